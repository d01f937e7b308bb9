-- Web origins whose pages may call the tenant's sign-in API from a browser (CORS, issue
-- #19), space-separated in their serialised form (`https://app.example`); empty: none.
ALTER TABLE tenants ADD COLUMN sign_in_origins TEXT NOT NULL DEFAULT '';
