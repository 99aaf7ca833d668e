/* The portal's link builder: builds the link as the affiliate types; the form's GET is the no-JS fallback. */
(function () {
  "use strict";
  var form = document.querySelector("form.builder");
  if (!form) return;
  var input = form.querySelector("input[name=page_url]"), row = document.getElementById("built-row");
  var output = document.getElementById("built-link"), warning = document.getElementById("builder-warning");
  var code = form.getAttribute("data-code"), site = form.getAttribute("data-site") || "";
  var root = site.split(".").slice(-2).join(".");

  function build() {
    var text = input.value.trim();
    if (!text) { row.hidden = true; warning.hidden = true; return; }
    var url;
    // As affiliates/links.py builds it: https:// unless a scheme is named, any code parameter replaced by ours.
    try { url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : "https://" + text); } catch (e) { row.hidden = true; return; }
    ["ref", "via", "aff", "fpr"].forEach(function (k) { url.searchParams.delete(k); });
    url.searchParams.set("ref", code);
    output.value = url.toString();
    row.hidden = false;
    warning.hidden = !root || url.hostname === root || url.hostname.slice(-(root.length + 1)) === "." + root;
  }
  input.addEventListener("input", build);
  form.addEventListener("submit", function (e) { e.preventDefault(); build(); });
})();
