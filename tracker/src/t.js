/**
 * Afficone tracker: the readable source of static/tracking/t.js. Edit this file, then run `npm run build` in
 * tracker/. The built file is committed, so deploys need no build step; `make lint` fails when the two differ
 * and prints the sizes (at most 1,000 bytes gzipped: tests/tracking/test_script_and_seen.py).
 *
 * Tag: <script async src="https://HOST/any/prefix/t.js" data-afficone="PUBLIC_KEY"
 *        data-consent="required" data-domains="other.example,third.example"></script>
 * data-consent and data-domains are optional; async and defer both work.
 *
 * Endpoints: <the directory of the script's own URL>/api/track/<name>, so a merchant that forwards a path of its
 * own site to Afficone gets a first-party tracker. Each is a POST of a JSON body sent as text/plain (a "simple"
 * request: no CORS preflight) with fetch's keepalive, never sendBeacon. Every body has
 *   k  the public key (data-afficone)        u  the page's URL
 * and, per endpoint:
 *   click  c: the affiliate code (?ref=, ?via=, ?aff=, or ?fpr= as FirstPromoter's links have it), r:
 *          document.referrer, p: the visitor's referral or null
 *          answers {"referral": id or null, "days": the cookie's lifetime in days}
 *   adopt  c: the referral id carried in ?afficone_ref= from another of the merchant's sites, r, p as for click
 *          answers {"referral": id or null, "days": the days left of the original click's cookie, may be a fraction}
 *   seen   nothing more: the installation check, at most once a day per browser and site
 *   lead   r: the referral id, e: email, c: Stripe customer id, x: the merchant's own user id (from
 *          Afficone.signup(); absent fields are left out)
 * An answer that is not JSON, or holds no referral, changes nothing.
 *
 * Storage (none at all with data-consent until Afficone.consent() is called):
 *   cookie afficone_ref          the referral id, on the registrable domain, for the answer's days
 *   sessionStorage afficone_c    the landing URL already reported, so a reload is not a second click
 *   localStorage afficone_seen   the day (days since 1970, UTC) of the last installation check
 * Links to the data-domains sites and their subdomains get ?afficone_ref=<referral id>.
 */

/**
 * @typedef {object} Lead
 * @property {string} email the address the visitor signed up with
 * @property {string} [customer] the visitor's Stripe customer id, if the merchant made one already
 * @property {string} [id] the merchant's own id for the visitor
 */

/**
 * window.Afficone. A page may define it before the script loads with the queue stub (README.md): `q` then holds
 * ready callbacks (functions) and other calls (["consent"], ["signup", lead]), which the script replays in order.
 * @typedef {object} AfficoneApi
 * @property {string|null} referral the visitor's referral id, or null
 * @property {function(function((string|null)): *=): Promise<*>} ready calls back asynchronously, once the
 *   referral is known, with the referral id or null; returns a promise of what the callback returns
 * @property {function(): void} consent with data-consent: allows storing and sending from now on
 * @property {function(Lead): Promise<*>} signup reports a signup once the referral is known (nothing without
 *   one); the promise never rejects
 * @property {Array<Function|Array>} [q] the queue stub's calls made before the script loaded
 * @property {Function} [v] set once the script runs, so that a second copy of the tag does nothing
 */

(function (doc, loc) {
  /** @type {AfficoneApi} */
  var api = (window.Afficone = window.Afficone || {});
  if (api.v) return; // the tag pasted twice: the first copy does the work
  var queued = api.q || [];
  var started, key, base, domains, settle, id;
  // Settled once, with the referral: ready() callbacks then run asynchronously, each on its own.
  var referral = new Promise(function (resolve) {
    /** Takes the server's answer (if it holds a referral), then stamps the page's links and answers ready(). */
    settle = function (answer) {
      try {
        if (answer && answer.referral) {
          id = api.referral = answer.referral;
          var parts = loc.hostname.split('.');
          var i = parts.length;
          var attributes =
            ';path=/;samesite=lax;max-age=' + ((answer.days * 864e2) | 0) + (loc.protocol[5] ? ';secure' : '') // "https:" has a sixth character, "http:" not;
          // Shortest parent first: browsers refuse public suffixes, so the first that sticks is the registrable
          // domain; localhost and IP addresses have none, and get a host-only cookie last.
          while (cookie() != id && i >= 0)
            doc.cookie = 'afficone_ref=' + id + attributes + (i-- ? ';domain=' + parts.slice(i).join('.') : '');
          // A reload of this landing page is not a second click.
          sessionStorage.afficone_c = loc.href;
        }
        if (id) {
          // Links and buy buttons added later, and links whose address the page changes, are stamped too.
          new MutationObserver(stamp).observe(doc, { childList: true, subtree: true, attributeFilter: ['href'] });
          stamp();
        }
      } catch {}
      resolve(id);
    };
  });

  api.referral = null;
  api.v = api.consent = start;
  api.ready = function (fn) {
    return referral.then(fn);
  };
  api.signup = function (lead) {
    return referral
      .then(function (id) {
        return id && post('lead', { r: id, e: lead.email, c: lead.customer, x: lead.id });
      })
      .catch(noop); // signup() without an object: nothing to send
  };

  // Nothing the script does may throw into the merchant's page: every entry point catches.
  try {
    var script = doc.currentScript;
    var data = script.dataset;
    key = data.afficone;
    // Relative to the script's own directory: served from /any/prefix/t.js it reports to /any/prefix/api/track/.
    base = new URL('api/track/', script.src);
    domains = (data.domains || '').split(/[\s,]+/);
    // data-consent="required"; any value, even none (a bare data-consent), waits for consent: not tracking is the
    // safe mistake.
    data.consent == null && start();
  } catch {
    // No usable tag: never send anything, but still answer ready().
    started = 1;
    settle();
  }

  // Calls made to the queue stub before the script loaded, in their order: ready callbacks are functions (they
  // have .call), other calls are [name, argument].
  try {
    for (var call of queued) call.call ? referral.then(call) : api[call[0]](call[1]);
  } catch {}

  /** Reads the page's state and makes at most one request for it (plus the daily installation check). */
  function start() {
    if (started) return;
    started = 1;
    try {
      id = api.referral = cookie();
      // The first of ref, via, aff, fpr (an affiliate code: a click) and afficone_ref (a referral id from another of
      // the merchant's sites: adopted) in the address counts; match[2] is set only for afficone_ref.
      var match = loc.search.match(/[?&]((afficone_)?ref|via|aff|fpr)=([\w-]+)/);
      if (!match || match[3] == id || sessionStorage.afficone_c == loc.href) settle();
      // For an adoption the server answers the days left, so the cookie ends when the first site's does.
      else post(match[2] ? 'adopt' : 'click', { c: match[3], r: doc.referrer, p: id }).then(settle);
      // The installation check, last: a browser that refuses storage throws here, after the rest is done. The day
      // (days since 1970, UTC) is marked before sending, so that such a browser is not checked on every page either.
      if (localStorage.afficone_seen != (localStorage.afficone_seen = (Date.now() / 864e5) | 0)) post('seen', {});
    } catch {
      settle(); // answers ready() if nothing did (settling twice changes nothing)
    }
  }

  /** The referral id in the cookie, if any. */
  function cookie() {
    var match = doc.cookie.match(/afficone_ref=([\w-]+)/);
    return match && match[1];
  }

  /** POSTs `body` with the key and the page's URL to the endpoint `name`; resolves to the JSON answer or
   * undefined; never rejects. */
  function post(name, body) {
    body.k = key;
    body.u = loc.href;
    // A string body goes as text/plain: a simple request, so no CORS preflight. keepalive outlives a navigation.
    return fetch(base + name, { method: 'POST', keepalive: true, body: JSON.stringify(body) })
      .then(function (response) {
        return response.json();
      })
      .catch(noop);
  }

  function noop() {}

  /** Adds the referral to Payment Links, Buy Buttons and links to the data-domains sites. */
  function stamp() {
    var url, name;
    try {
      for (var element of doc.querySelectorAll('a[href],stripe-buy-button')) {
        if (element.href) {
          url = new URL(element.href);
          name =
            url.hostname == 'buy.stripe.com'
              ? 'client_reference_id'
              : domains.some(function (domain) {
                  // The domain itself or one of its subdomains.
                  return ('.' + url.hostname).endsWith('.' + domain);
                }) && 'afficone_ref';
          if (name) {
            url.searchParams.set(name, id);
            // Only a real change: writing href fires the observer again.
            url.href != element.href && (element.href = url);
          }
        } else element.setAttribute('client-reference-id', id); // <stripe-buy-button>
      }
    } catch {}
  }
})(document, location);
