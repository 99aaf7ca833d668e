{% autoescape off %}// middleware.js at the root of your project, or in src/ (Next.js 13 or newer; Next.js 16 names the file proxy.js
// and the function proxy). Afficone's tracker on your own domain: pages load {{ prefix }}/t.js.
import { NextResponse } from "next/server";

export const config = { matcher: "{{ prefix }}/:path*" };

export function middleware(request) {
  const { pathname, search } = request.nextUrl;
  const headers = new Headers(request.headers);
  // Next.js adds X-Forwarded-For, -Host and -Proto itself when it forwards the request.
  headers.set("Afficone-Proxy-Secret", "{{ secret }}");
  headers.delete("cookie"); // your site's own cookies stay with your site
  const target = new URL(pathname.slice({{ prefix|length }}) + search, "{{ app_url }}");
  return NextResponse.rewrite(target, { request: { headers } });
}
{% endautoescape %}
