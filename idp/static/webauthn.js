// Portcullis: WebAuthn ceremonies (security keys and passkeys). Served as a file because
// the Content-Security-Policy forbids inline script. Each element with data-webauthn holds
// a hidden csrf input (or the page has one), and data-start / data-finish URLs: the start
// answers {ceremony, options}; the finish takes the authenticator's answer and answers
// {redirect} or {error}. Binary fields travel as base64url, as webauthn-rs expects.
(function () {
  "use strict";

  function toBuffer(b64url) {
    var s = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfFor(el) {
    var input = el.querySelector('input[name="csrf"]') || document.querySelector('input[name="csrf"]');
    return input ? input.value : "";
  }

  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: new URLSearchParams(fields),
    }).then(function (res) {
      return res.json().then(function (body) {
        if (!res.ok || body.error) throw new Error(body.error || "The request failed.");
        return body;
      });
    });
  }

  function creationOptions(options) {
    var pk = options.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(options) {
    var pk = options.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return { publicKey: pk };
  }

  function registrationJson(cred) {
    return JSON.stringify({
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64url(cred.response.attestationObject),
        clientDataJSON: toB64url(cred.response.clientDataJSON),
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    });
  }

  function assertionJson(cred) {
    return JSON.stringify({
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64url(cred.response.authenticatorData),
        clientDataJSON: toB64url(cred.response.clientDataJSON),
        signature: toB64url(cred.response.signature),
        userHandle: toB64url(cred.response.userHandle),
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    });
  }

  function setup(el) {
    var kind = el.getAttribute("data-webauthn");
    var button = el.querySelector("[data-webauthn-go]");
    var errorBox = el.querySelector("[data-webauthn-error]");
    if (!button) return;
    if (!window.PublicKeyCredential) {
      if (errorBox) {
        errorBox.textContent = "This browser does not support security keys or passkeys.";
        errorBox.hidden = false;
      }
      button.disabled = true;
      return;
    }
    el.hidden = false;
    var showError = function (message) {
      if (!errorBox) return;
      errorBox.textContent = message;
      errorBox.hidden = false;
    };
    button.addEventListener("click", function () {
      if (errorBox) errorBox.hidden = true;
      var csrf = csrfFor(el);
      var nameInput = el.querySelector("[data-webauthn-name]");
      var name = nameInput ? nameInput.value.trim() : "";
      if (kind === "register" && !name) {
        showError("Give the security key a name.");
        if (nameInput) nameInput.focus();
        return;
      }
      var returnTo = document.querySelector('input[name="return_to"]');
      button.disabled = true;
      post(el.getAttribute("data-start"), { csrf: csrf })
        .then(function (start) {
          var ask = kind === "register"
            ? navigator.credentials.create(creationOptions(start.options)).then(registrationJson)
            : navigator.credentials.get(requestOptions(start.options)).then(assertionJson);
          return ask.then(function (credential) {
            return post(el.getAttribute("data-finish"), {
              csrf: csrf,
              ceremony: start.ceremony,
              credential: credential,
              name: name,
              return_to: returnTo ? returnTo.value : "",
            });
          });
        })
        .then(function (done) {
          window.location.assign(done.redirect || "/apps");
        })
        .catch(function (err) {
          button.disabled = false;
          var cancelled = err && (err.name === "NotAllowedError" || err.name === "AbortError");
          showError(cancelled ? "The request was cancelled or timed out. Try again." : (err && err.message) || "That did not work. Try again.");
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var els = document.querySelectorAll("[data-webauthn]");
    for (var i = 0; i < els.length; i++) setup(els[i]);
  });
})();
