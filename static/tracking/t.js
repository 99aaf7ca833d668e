/* Afficone tracker, hand-written ES5; wire format and storage keys: tracking/views.py */
(function(w,d,L){'use strict'
var A=w.Afficone=w.Afficone||{},q=A.q||[],S,K
function f(g){setTimeout(g,0,A.referral)}
function s(){try{for(var r=A.referral,l=d.querySelectorAll('a[href^="https://buy.stripe.com/"],stripe-buy-button'),i=l.length,e,u;i--;)
(u=(e=l[i]).href&&new URL(e.href))?(u.searchParams.set('client_reference_id',r),u.href!=e.href&&(e.href=u)):e.setAttribute('client-reference-id',r)}catch(x){}}
function o(id,n){try{if(id&&n){
for(var p=L.hostname.split('.'),i=p.length,t='afficone_ref='+id,a=';path=/;samesite=lax;max-age='+n*864e2+(L.protocol=='https:'?';secure':'');i--&&!~d.cookie.indexOf(t);)d.cookie=t+a+';domain='+p.slice(i).join('.')
~d.cookie.indexOf(t)||(d.cookie=t+a)
A.referral=id}
K=1
A.referral&&new MutationObserver(s).observe(d,{childList:1,subtree:1,attributeFilter:['href']},s())}catch(x){}
while(q.length)f(q.shift())}
if(A.v)return
A.v=A.ready=function(g){K?f(g):q.push(g)}
try{var c=d.currentScript||d.querySelector('[data-afficone]'),k=c.getAttribute('data-afficone'),api=new URL('/api/track/',c.src),
y=Date.now()/864e5|0,m=d.cookie.match(/afficone_ref=([\w-]+)/)
A.referral=m&&m[1]
try{localStorage.afficone_seen!=y&&navigator.sendBeacon(api+'seen',JSON.stringify({k:k,u:L.href}))&&(localStorage.afficone_seen=y)}catch(x){}
c=L.search.match(/[?&](?:ref|via|aff)=([\w-]+)(&|$)/)
if(!c||(S=sessionStorage).afficone_c==L.href)return o()
fetch(api+'click',{method:'POST',body:JSON.stringify({k:k,c:c[1],u:L.href,r:d.referrer,p:A.referral})}).then(function(r){S.afficone_c=L.href;return r.ok&&r.json()}).then(function(j){o(j.referral,j.days)},o)
}catch(x){K||o()}})(window,document,location)
