// Offline search over the index written at export (assets/index.js sets window.HB_INDEX).
// Words are folded (lowercase, no accents) like the node's search; the index holds the same
// Snowball stems the node computes, and a query word matches the longest stem that begins it.
(function () {
  var IDX = window.HB_INDEX;
  function fold(w) { return w.toLowerCase().normalize("NFD").replace(/\p{Mn}/gu, "").normalize("NFC"); }
  function words(s) { return s.match(/[\p{L}\p{N}_]+/gu) || []; }
  function stemsFor(w) {
    var best = [], len = 0, s;
    for (s in IDX.terms) {
      if (w === s || (s.length >= 3 && w.indexOf(s) === 0)) {
        if (s.length > len) { best = [s]; len = s.length; } else if (s.length === len) { best.push(s); }
      }
    }
    if (!best.length && w.length >= 4) { for (s in IDX.terms) { if (s.indexOf(w) === 0) { best.push(s); } } }
    return best;
  }
  function search(q) {
    var ws = words(q).map(fold), total = null, matched = [];
    for (var i = 0; i < ws.length && i < 32; i++) {
      var stems = stemsFor(ws[i]), scores = {};
      matched = matched.concat(stems);
      stems.forEach(function (s) {
        var posting = IDX.terms[s], idf = Math.log(1 + IDX.docs.length / posting.length);
        posting.forEach(function (p) { scores[p[0]] = (scores[p[0]] || 0) + p[1] * idf; });
      });
      if (total === null) { total = scores; } else {
        var both = {};
        for (var d in total) { if (d in scores) { both[d] = total[d] + scores[d]; } }
        total = both;
      }
    }
    var out = [];
    for (var doc in total || {}) { out.push([Number(doc), total[doc]]); }
    out.sort(function (a, b) { return b[1] - a[1]; });
    return { hits: out.slice(0, 50), stems: matched };
  }
  function snippet(text, stems) {
    var ws = text.split(/\s+/), at = 0;
    for (var i = 0; i < ws.length; i++) {
      var f = fold(ws[i]);
      if (stems.some(function (s) { return f.replace(/[^\p{L}\p{N}_]/gu, "").indexOf(s) === 0; })) { at = i; break; }
    }
    var start = Math.max(0, at - 8);
    return (start ? "… " : "") + ws.slice(start, start + 24).join(" ") + " …";
  }
  function show() {
    var q = new URLSearchParams(window.location.search).get("q") || "";
    var box = document.getElementById("q");
    if (box) { box.value = q; }
    var list = document.getElementById("results");
    if (!list || !q) { return; }
    var r = search(q);
    list.textContent = "";
    if (!r.hits.length) { var none = document.createElement("li"); none.textContent = IDX.none; list.appendChild(none); }
    r.hits.forEach(function (h) {
      var doc = IDX.docs[h[0]], li = document.createElement("li"), a = document.createElement("a"), p = document.createElement("p");
      a.href = doc.u; a.textContent = doc.t; p.textContent = snippet(doc.x, r.stems);
      li.className = "hit"; li.appendChild(a); li.appendChild(p); list.appendChild(li);
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", show); } else { show(); }
})();
