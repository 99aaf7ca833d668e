{% autoescape off %}// Cloudflare Worker: Afficone's tracker on your own domain. Give it the route your-site.example{{ prefix }}/*
// (Workers → your Worker → Settings → Domains & Routes); pages then load {{ prefix }}/t.js.
const AFFICONE = "{{ app_url }}";
const SECRET = "{{ secret }}";

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("X-Forwarded-For", request.headers.get("CF-Connecting-IP") || "");
    headers.set("X-Forwarded-Host", url.hostname);
    headers.set("X-Forwarded-Proto", url.protocol.slice(0, -1));
    headers.set("Afficone-Proxy-Secret", SECRET);
    headers.delete("Cookie"); // your site's own cookies stay with your site
    const target = AFFICONE + url.pathname.slice({{ prefix|length }}) + url.search;
    return fetch(target, { method: request.method, headers, body: request.body, redirect: "manual" });
  },
};
{% endautoescape %}
