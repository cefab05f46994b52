// Portcullis portal: progressive enhancement only. Every page works without this file.
(function () {
  "use strict";

  // ---------- Account menu (<details>): close on outside click or Escape ----------

  function setupAccountMenu() {
    var menu = document.querySelector("details.account-menu");
    if (!menu) return;
    var summary = menu.querySelector("summary");
    var sync = function () {
      summary.setAttribute("aria-expanded", menu.open ? "true" : "false");
    };
    sync();
    menu.addEventListener("toggle", sync);
    document.addEventListener("click", function (event) {
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    });
    menu.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.open) {
        menu.open = false;
        summary.focus();
      }
    });
    menu.addEventListener("focusout", function (event) {
      if (menu.open && event.relatedTarget && !menu.contains(event.relatedTarget)) menu.open = false;
    });
  }

  // ---------- Applications: instant search within the current tab ----------

  function setupAppSearch() {
    var form = document.querySelector("form[data-app-search]");
    var input = form && form.querySelector('input[name="q"]');
    var results = document.getElementById("app-results");
    if (!form || !input || !results) return;

    var status = document.getElementById("app-filter-status");
    var tab = results.getAttribute("data-tab") || "all";
    // Tiles on the page were already narrowed by the server when it was given a query.
    // Fetch the whole tab once, the first time the query changes, so that widening works.
    var serverQuery = input.defaultValue.trim();
    var fullListState = serverQuery === "" ? "loaded" : "missing";

    function terms(value) {
      return value.toLowerCase().split(/\s+/).filter(Boolean);
    }

    function apply(fromUser) {
      var value = input.value.trim();
      var wanted = terms(value);
      var tiles = results.querySelectorAll("li.tile");
      var shown = 0;
      tiles.forEach(function (tile) {
        var text = tile.getAttribute("data-app-text") || (tile.getAttribute("data-app-name") || "").toLowerCase();
        var match = wanted.every(function (t) { return text.indexOf(t) !== -1; });
        tile.hidden = !match;
        if (match) shown += 1;
      });
      if (status) {
        status.textContent = tiles.length > 0 && shown === 0 ? "No applications match \u201c" + value + "\u201d." : "";
      }
      // Keep the no-JavaScript fallbacks and a reload in step with what is shown.
      results.querySelectorAll('form.star-form input[name="q"]').forEach(function (q) { q.value = value; });
      if (fromUser && window.history && history.replaceState) {
        var url = new URL(window.location.href);
        url.searchParams.set("tab", tab);
        if (value) url.searchParams.set("q", value); else url.searchParams.delete("q");
        history.replaceState(history.state, "", url.pathname + url.search + url.hash);
      }
    }

    function loadFullList() {
      if (fullListState !== "missing") return;
      fullListState = "loading";
      fetch("/apps?tab=" + encodeURIComponent(tab), {
        credentials: "same-origin",
        headers: { Accept: "text/html" }
      })
        .then(function (res) {
          if (!res.ok) throw new Error("HTTP " + res.status);
          return res.text();
        })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("app-results");
          if (!fresh) throw new Error("unexpected page");
          var list = fresh.querySelector("ul.tiles");
          var current = results.querySelector("ul.tiles, p.empty");
          if (list && current) {
            current.replaceWith(document.importNode(list, true));
          }
          fullListState = "loaded";
          apply(true);
        })
        .catch(function () {
          fullListState = "failed"; // Enter still submits the search to the server.
        });
    }

    input.addEventListener("input", function () {
      if (input.value.trim() !== serverQuery) loadFullList();
      apply(true);
    });
    apply(false);
  }

  // ---------- Applications: favorite stars ----------

  var live;
  function announce(text) {
    if (!live) {
      live = document.createElement("p");
      live.className = "visually-hidden";
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function appNameOf(form) {
    var tile = form.closest("li.tile");
    return tile ? tile.getAttribute("data-app-name") || "" : "";
  }

  function renderStar(button, name, favorite) {
    button.setAttribute("aria-pressed", favorite ? "true" : "false");
    button.setAttribute("aria-label", favorite ? "Remove " + name + " from favorites" : "Add " + name + " to favorites");
  }

  function removeTile(tile) {
    var list = tile.parentElement;
    var results = document.getElementById("app-results");
    var siblings = Array.prototype.filter.call(list.children, function (li) { return !li.hidden; });
    var index = siblings.indexOf(tile);
    var next = siblings[index + 1] || siblings[index - 1];
    tile.remove();
    if (next) {
      var star = next.querySelector("button.star");
      if (star) star.focus();
    } else {
      var search = document.getElementById("app-search");
      if (search) search.focus();
    }
    if (!list.querySelector("li.tile")) {
      var empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = (results && results.getAttribute("data-empty-text")) || "";
      list.replaceWith(empty);
    }
    var status = document.getElementById("app-filter-status");
    if (status && list.isConnected && !list.querySelector("li.tile:not([hidden])")) {
      var q = document.getElementById("app-search");
      status.textContent = "No applications match \u201c" + (q ? q.value.trim() : "") + "\u201d.";
    }
  }

  function setupFavorites() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.classList.contains("star-form")) return;
      if (!window.fetch || !window.URLSearchParams || !window.FormData) return;
      var button = form.querySelector("button.star");
      if (!button) return;
      event.preventDefault();
      if (button.getAttribute("aria-busy") === "true") return;
      button.setAttribute("aria-busy", "true");

      var name = appNameOf(form);
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        body: new URLSearchParams(new FormData(form))
      })
        .then(function (res) {
          var type = res.headers.get("Content-Type") || "";
          if (!res.ok || type.indexOf("application/json") === -1) throw new Error("HTTP " + res.status);
          return res.json();
        })
        .then(function (data) {
          if (!data || typeof data.favorite !== "boolean") throw new Error("unexpected answer");
          button.removeAttribute("aria-busy");
          renderStar(button, name, data.favorite);
          var results = document.getElementById("app-results");
          var onFavorites = results && results.getAttribute("data-tab") === "favorites";
          var tile = form.closest("li.tile");
          if (onFavorites && !data.favorite && tile) {
            removeTile(tile);
            announce(name + " removed from favorites.");
          } else {
            announce(data.favorite ? name + " added to favorites." : name + " removed from favorites.");
          }
        })
        .catch(function () {
          button.removeAttribute("aria-busy");
          form.submit(); // plain POST and redirect, exactly as without JavaScript
        });
    });
  }

  // ---------- Security: copy the new API key ----------

  function setupCopy() {
    if (!navigator.clipboard || !window.isSecureContext) return;
    document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target) return;
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(target.textContent.trim()).then(
          function () {
            button.textContent = "Copied";
            window.setTimeout(function () { button.textContent = label; }, 2000);
          },
          function () {
            var range = document.createRange();
            range.selectNodeContents(target);
            var selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
          }
        );
      });
    });
  }

  // ---------- Password fields: show what was typed, on request ----------
  // Without this file every password field stays a password field. The
  // button's name stays "Show password"; aria-pressed says whether it is shown.

  function setupPasswordReveal() {
    document.querySelectorAll('input[type="password"]').forEach(function (input) {
      if (!input.id || input.hasAttribute("data-no-reveal")) return;
      var wrap = document.createElement("div");
      wrap.className = "reveal-wrap";
      input.parentNode.insertBefore(wrap, input);
      wrap.appendChild(input);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-secondary btn-small reveal";
      button.setAttribute("aria-controls", input.id);
      button.setAttribute("aria-pressed", "false");
      button.setAttribute("data-reveal", "");
      button.innerHTML = 'Show<span class="visually-hidden"> password</span>';
      wrap.appendChild(button);
      button.addEventListener("click", function () {
        var show = input.type === "password";
        input.type = show ? "text" : "password";
        button.setAttribute("aria-pressed", show ? "true" : "false");
        input.focus();
      });
      // What is sent, and what a password manager sees, is a password field.
      if (input.form) {
        input.form.addEventListener("submit", function () {
          input.type = "password";
          button.setAttribute("aria-pressed", "false");
        });
      }
    });
  }

  // ---------- New-password fields: tick the policy's rules as the user types ----------
  // The rules and their words come from the server, which still judges the
  // password; this only shows progress. Kept in step with check_policy.

  var RULE_TESTS = {
    min: function (v, arg) { return Array.from(v).length >= Number(arg); },
    upper: function (v) { return /\p{Lu}/u.test(v); },
    lower: function (v) { return /\p{Ll}/u.test(v); },
    digit: function (v) { return /[0-9]/.test(v); },
    special: function (v) { return /[^\p{L}\p{N}\s]/u.test(v); },
    identity: function (v, arg) {
      if (v === "") return false;
      var lower = v.toLowerCase();
      return arg.split("\n").filter(Boolean).every(function (id) { return lower.indexOf(id) === -1; });
    }
  };

  function setupPasswordRules() {
    document.querySelectorAll("ul[data-password-rules]").forEach(function (list) {
      var input = document.getElementById(list.getAttribute("data-password-rules"));
      if (!input) return;
      var confirm = document.getElementById(list.getAttribute("data-match") || "");
      var matchItem = list.querySelector('li[data-rule="match"]');
      if (matchItem && confirm) matchItem.hidden = false;
      function mark(item, met) {
        item.classList.toggle("met", met);
        var state = item.querySelector("[data-rule-state]");
        if (state) state.textContent = met ? " (done)" : " (not yet)";
      }
      function update() {
        var value = input.value;
        list.querySelectorAll("li[data-rule]").forEach(function (item) {
          var kind = item.getAttribute("data-rule");
          if (kind === "match") {
            mark(item, !!confirm && value !== "" && confirm.value === value);
          } else if (RULE_TESTS[kind]) {
            mark(item, RULE_TESTS[kind](value, item.getAttribute("data-value") || ""));
          }
        });
      }
      input.addEventListener("input", update);
      if (confirm) confirm.addEventListener("input", update);
      update();
    });
  }

  // ---------- After a form: the result or error is where the person looks ----------
  // The form's action carries the section as a fragment, so the browser scrolls there
  // without this file; this also moves focus, so screen readers announce it.

  function focusResult() {
    var target = document.querySelector("[data-focus-on-load]");
    if (!target) return;
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "center" });
  }

  function init() {
    setupAccountMenu();
    setupAppSearch();
    setupFavorites();
    setupCopy();
    setupPasswordReveal();
    setupPasswordRules();
    // After the browser has scrolled to the action's fragment, which would
    // otherwise take the focus back to the page.
    if (document.readyState === "complete") {
      window.setTimeout(focusResult, 0);
    } else {
      window.addEventListener("load", function () { window.setTimeout(focusResult, 0); });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
