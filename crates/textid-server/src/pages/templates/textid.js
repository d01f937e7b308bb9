// Progressive enhancement only: the pages work without it.
// 1. WebOTP: the SMS ends with "@host #code", so the browser may offer the code.
// 2. The resend button becomes available when its cooldown ends.
(function () {
  var code = document.getElementById('code');
  if (code && 'OTPCredential' in window) {
    var ac = new AbortController();
    var form = document.getElementById('code-form');
    if (form) form.addEventListener('submit', function () { ac.abort(); });
    navigator.credentials.get({ otp: { transport: ['sms'] }, signal: ac.signal })
      .then(function (otp) { if (otp && otp.code) { code.value = otp.code; if (form) form.submit(); } })
      .catch(function () {});
  }
  // "Text me a new code" and, where voice is offered, "Call me instead" share the cooldown.
  var resend = document.querySelectorAll('button[data-wait]');
  var seconds = document.getElementById('resend-seconds');
  var wait = document.getElementById('resend-wait');
  if (resend.length && resend[0].disabled) {
    var left = parseInt(resend[0].getAttribute('data-wait'), 10) || 0;
    var timer = setInterval(function () {
      left -= 1;
      if (seconds) seconds.textContent = String(Math.max(left, 0));
      if (left <= 0) {
        clearInterval(timer);
        for (var i = 0; i < resend.length; i++) resend[i].disabled = false;
        if (wait) wait.hidden = true;
      }
    }, 1000);
  }
})();
