/* funnelwatch landing snippet (served as /t.js; plain ES2017, no dependencies).
 * <script src="https://<worker>/t.js" data-site-key="pk_..." async></script>
 * Keeps the ad click id and utm tags of a landing in a first-party cookie, reports the
 * landing to the worker's /collect, and adds them as hidden fields to every form. */
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script) return;
  const DAYS = __FW_COOKIE_DAYS__; // rendered by the worker (FUNNELWATCH_SNIPPET_COOKIE_DAYS)
  const COOKIE = "_fw";
  const CLICK_IDS = ["gclid", "gbraid", "wbraid", "yclid", "fbclid", "msclkid"];
  const UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"];
  const FIELDS = ["click_id", ...UTM];
  const clip = (v) => String(v).trim().slice(0, 200);

  const stored = () => {
    const m = document.cookie.match(/(?:^|;\s*)_fw=([^;]*)/);
    try {
      const v = m && JSON.parse(decodeURIComponent(m[1]));
      return v && typeof v.click_id === "string" ? v : null;
    } catch (e) {
      return null;
    }
  };

  const store = (v) => {
    let c = `${COOKIE}=${encodeURIComponent(JSON.stringify(v))}; Max-Age=${DAYS * 86400}` +
      "; Path=/; SameSite=Lax";
    if (script.dataset.cookieDomain) c += `; Domain=${script.dataset.cookieDomain}`;
    if (location.protocol === "https:") c += "; Secure";
    document.cookie = c;
  };

  const randomId = () => {
    const b = crypto.getRandomValues(new Uint8Array(16));
    return "fw." + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  };

  // The landing's tags, or null when the URL carries none (the cookie is kept then).
  const landing = (before) => {
    const q = new URLSearchParams(location.search);
    const tags = {};
    for (const name of UTM) if ((q.get(name) || "").trim()) tags[name] = clip(q.get(name));
    const type = CLICK_IDS.find((name) => (q.get(name) || "").trim());
    if (type) return Object.assign(tags, { click_id: clip(q.get(type)), click_id_type: type });
    if (!Object.keys(tags).length) return null;
    // utm tags only: the snippet's own id, the same one again on a reload of this landing
    const same = before && before.click_id_type === "fw" &&
      UTM.every((name) => (before[name] || "") === (tags[name] || ""));
    return Object.assign(tags, { click_id: same ? before.click_id : randomId(),
                                 click_id_type: "fw" });
  };

  const tag = (form, kept) => {
    for (const name of FIELDS) {
      if (!kept[name]) continue;
      let input = form.querySelector(`input[data-fw="${name}"]`);
      if (!input) {
        if (form.elements.namedItem(name)) continue; // the site's own field wins
        input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.dataset.fw = name;
        form.appendChild(input);
      }
      input.value = kept[name];
    }
  };

  const before = stored();
  const now = landing(before);
  const kept = now || before;
  if (now) {
    store(now);
    const key = script.dataset.siteKey;
    if (key) {
      fetch(new URL("/collect", script.src).href, {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        keepalive: true,
        // a CORS-safelisted type: no preflight before the landing is reported
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        body: JSON.stringify(Object.assign({ site_key: key }, now)),
      }).catch(() => {});
    } else {
      console.warn("funnelwatch: no data-site-key on the script tag; the landing is not reported");
    }
  }
  if (!kept) return;
  const tagAll = (root) => {
    if (root.tagName === "FORM") tag(root, kept);
    if (root.querySelectorAll) root.querySelectorAll("form").forEach((f) => tag(f, kept));
  };
  const start = () => {
    tagAll(document);
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) if (n.nodeType === 1) tagAll(n);
    }).observe(document.documentElement, { childList: true, subtree: true });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
