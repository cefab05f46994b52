// Carries a SAML message on to its destination as soon as the page loads: the
// auto-submitting form of the HTTP-POST binding, or the link of a redirect that
// had to be a page (a redirect straight after a portal form would be held to
// the form's `form-action 'self'`). Without JavaScript the user presses Continue.
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  const el = document.querySelector('[data-saml-auto]');
  if (!el) return;
  if (el instanceof HTMLFormElement) el.submit();
  else if (el instanceof HTMLAnchorElement) window.location.replace(el.href);
});
