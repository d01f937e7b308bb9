//! Bad input gets a 4xx with `{"error": {"code", "message"}}`, a message that names what
//! is wrong, never a 500, and changes nothing (DESIGN.md §3 "Details of the sign-in API").

use serde_json::json;

use crate::helpers::{expect_error, spawn_app, TestApp};

const ANA: &str = "+1 425 555 0101";
const LIMIT: usize = 64 * 1024;

/// Nothing was queued or logged: bad input changes nothing.
async fn nothing_changed(t: &mut TestApp) {
    assert!(t.deliver().await.is_empty());
    assert!(t.messages().await.is_empty());
    assert!(t.sign_in_logs().await.is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    for raw in [
        r#"{"phoneNumber": "+1 425 555 0101""#,
        "",
        "phoneNumber=+14255550101",
        "[]",
        "null",
        // serde would fill the request from an array by position: refused (schemathesis).
        r#"["+1 425 555 0101"]"#,
    ] {
        let e = expect_error(
            t.post_raw(Some("application/json"), raw).await,
            400,
            "invalidRequest",
        )
        .await;
        assert!(!e.message.is_empty(), "{raw:?}");
    }
    nothing_changed(&mut t).await;
}

#[tokio::test]
async fn a_body_without_the_json_content_type_is_a_415() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let valid = json!({ "phoneNumber": ANA }).to_string();
    expect_error(
        t.post_raw(None, valid.clone()).await,
        415,
        "unsupportedMediaType",
    )
    .await;
    expect_error(
        t.post_raw(Some("text/plain"), valid.clone()).await,
        415,
        "unsupportedMediaType",
    )
    .await;
    nothing_changed(&mut t).await;
    let response = t
        .post_raw(Some("application/json; charset=utf-8"), valid)
        .await;
    assert_eq!(response.status(), 202, "a charset parameter is fine");
}

#[tokio::test]
async fn an_unknown_or_missing_field_is_a_400_naming_it() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let e = expect_error(
        t.post_json(
            "default",
            "",
            &json!({ "phoneNumber": ANA, "carrier": "sms" }),
        )
        .await,
        400,
        "invalidRequest",
    )
    .await;
    // The unknown key is not repeated (it is the client's text); the known ones are listed.
    assert!(!e.message.contains("carrier"), "{e:?}");
    assert!(e.message.contains("phoneNumber"), "{e:?}");
    let e = expect_error(
        t.post_json("default", "", &json!({ "phone": ANA })).await,
        400,
        "invalidRequest",
    )
    .await;
    assert!(e.message.contains("phone"), "{e:?}");
    let e = expect_error(
        t.post_json("default", "", &json!({ "phoneNumber": 14255550101u64 }))
            .await,
        400,
        "invalidRequest",
    )
    .await;
    assert!(e.message.contains("string"), "{e:?}");
    let e = expect_error(
        t.post_json(
            "default",
            "/verify",
            &json!({ "flowId": uuid::Uuid::nil() }),
        )
        .await,
        400,
        "invalidRequest",
    )
    .await;
    assert!(e.message.contains("code"), "{e:?}");
    nothing_changed(&mut t).await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413_and_one_of_exactly_64_kib_is_read() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let valid = json!({ "phoneNumber": ANA }).to_string();
    let padded = |len: usize| format!("{valid}{}", " ".repeat(len - valid.len()));
    expect_error(
        t.post_raw(Some("application/json"), padded(LIMIT + 1))
            .await,
        413,
        "payloadTooLarge",
    )
    .await;
    expect_error(
        t.post_raw(Some("application/json"), padded(4 * LIMIT))
            .await,
        413,
        "payloadTooLarge",
    )
    .await;
    nothing_changed(&mut t).await;
    assert_eq!(
        t.post_raw(Some("application/json"), padded(LIMIT))
            .await
            .status(),
        202
    );
}

#[tokio::test]
async fn a_phone_number_that_cannot_be_a_number_is_a_400_naming_phone_number() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    for bad in [
        "+1 425",
        "+1 425 555 01AB",
        "+1 425 555 0101 x12",
        "(425) 555-0101",
        "",
        "+",
        "+999 425 555 0101",
        "+1 425 555 0101 0101 0101 0101 0101",
        "+1 425 555 0101; DROP TABLE users",
    ] {
        let e = expect_error(t.start(bad).await, 400, "invalidRequest").await;
        assert!(e.message.starts_with("phoneNumber"), "{bad:?}: {e:?}");
    }
    nothing_changed(&mut t).await;
}

#[tokio::test]
async fn phone_input_with_spaces_hyphens_dots_and_parentheses_is_the_same_number() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    for input in [
        "+14255550101",
        "+1 (425) 555-0101",
        "+1.425.555.0101",
        " +1 425 555 0101 ",
    ] {
        t.start_flow(input).await;
        let delivered = t.deliver().await;
        assert_eq!(delivered.len(), 1, "{input:?}");
        assert_eq!(delivered[0].json()["to"], "+14255550101", "{input:?}");
    }
}

#[tokio::test]
async fn a_code_that_is_not_six_digits_is_a_400_naming_code() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    for bad in ["12345", "abcdef", "1234567", "", "12 345", "１２３４５６"] {
        let e = expect_error(t.verify(&flow, bad).await, 400, "invalidRequest").await;
        assert!(e.message.starts_with("code"), "{bad:?}: {e:?}");
    }
    assert_eq!(
        t.verify(&flow, &code).await.status(),
        200,
        "malformed codes used up no tries"
    );
}

#[tokio::test]
async fn a_flow_id_that_is_not_a_uuid_is_a_400_naming_flow_id() {
    let mut t = spawn_app().await;
    for bad in [
        "",
        "123",
        "not-a-uuid",
        "00000000-0000-0000-0000-00000000000g",
    ] {
        let e = expect_error(t.verify(bad, "123456").await, 400, "invalidRequest").await;
        assert!(e.message.starts_with("flowId"), "{bad:?}: {e:?}");
        let e = expect_error(t.resend(bad).await, 400, "invalidRequest").await;
        assert!(e.message.starts_with("flowId"), "{bad:?}: {e:?}");
    }
    nothing_changed(&mut t).await;
}

#[tokio::test]
async fn an_unknown_flow_id_is_a_404_flow_not_found() {
    let mut t = spawn_app().await;
    let random = uuid::Uuid::new_v4().to_string();
    expect_error(t.verify(&random, "123456").await, 404, "flowNotFound").await;
    expect_error(t.resend(&random).await, 404, "flowNotFound").await;
    assert!(t.deliver().await.is_empty());
}

#[tokio::test]
async fn an_unknown_tenant_is_a_404() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let random = uuid::Uuid::new_v4().to_string();
    for tenant in ["contoso", "DEFAULT", "x"] {
        for (step, body) in [
            ("", json!({ "phoneNumber": ANA })),
            ("/verify", json!({ "flowId": random, "code": "123456" })),
            ("/resend", json!({ "flowId": random })),
        ] {
            let e = expect_error(
                t.post_json(tenant, step, &body).await,
                404,
                "tenantNotFound",
            )
            .await;
            // The name asked for is not repeated.
            assert!(!e.message.contains(tenant), "{e:?}");
        }
    }
    nothing_changed(&mut t).await;
}

#[tokio::test]
async fn an_unknown_path_is_a_404_with_an_error_body() {
    let t = spawn_app().await;
    let response = t
        .http
        .post(format!("{}/default/api/v1/sign-in/email", t.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(response, 404, "notFound").await;
}

#[tokio::test]

async fn a_wrong_method_is_a_405_with_an_error_body() {
    let t = spawn_app().await;
    let response = t
        .http
        .get(format!("{}/default/api/v1/sign-in/sms", t.base))
        .send()
        .await
        .unwrap();
    expect_error(response, 405, "methodNotAllowed").await;
}
