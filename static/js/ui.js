/* Small progressive enhancements shared by the dashboard and the portal; every page works without them. */
(function () {
  "use strict";

  // Copy buttons: <button data-copy="#target-id">; the target is an input, a textarea or a <pre>/<code>.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) return;
    var text = "value" in target && target.value !== undefined ? target.value : target.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(target, done); });
    } else {
      fallback(target, done);
    }
  });

  function fallback(target, done) {
    if (target.select) { target.select(); } else {
      var range = document.createRange(); range.selectNodeContents(target);
      var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
    }
    try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected for Ctrl+C */ }
  }

  // Tabs: [role=tablist] with buttons aria-controls → panels; the hash selects a tab (#tab-id).
  var lists = document.querySelectorAll("[role=tablist]");
  Array.prototype.forEach.call(lists, function (list) {
    var tabs = list.querySelectorAll("[role=tab]");
    function select(tab) {
      Array.prototype.forEach.call(tabs, function (t) {
        var on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        var panel = document.getElementById(t.getAttribute("aria-controls"));
        if (panel) panel.hidden = !on;
      });
    }
    Array.prototype.forEach.call(tabs, function (tab, i) {
      tab.addEventListener("click", function () { select(tab); history.replaceState(null, "", "#" + tab.id); });
      tab.addEventListener("keydown", function (e) {
        var next = e.key === "ArrowRight" ? tabs[(i + 1) % tabs.length] : e.key === "ArrowLeft" ? tabs[(i - 1 + tabs.length) % tabs.length] : null;
        if (next) { next.focus(); select(next); }
      });
    });
    var fromHash = location.hash && list.querySelector(location.hash + "[role=tab]");
    select(fromHash || list.querySelector("[aria-selected=true]") || tabs[0]);
  });

  // Forms that need a confirmation: <form data-confirm="Really?">
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // Show the fields that belong to the chosen option: <div data-show-when="name=value">.
  function sync() {
    var blocks = document.querySelectorAll("[data-show-when]");
    Array.prototype.forEach.call(blocks, function (block) {
      var rule = block.getAttribute("data-show-when").split("="), name = rule[0], values = rule[1].split("|");
      var input = document.querySelector("[name='" + name + "']:checked") || document.querySelector("select[name='" + name + "']");
      block.hidden = !!input && values.indexOf(input.value) < 0;
    });
  }
  document.addEventListener("change", sync);
  sync();
})();
