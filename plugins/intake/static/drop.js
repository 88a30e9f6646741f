/* The drop's upload script: resumable uploads (tus 1.0.0) with a progress bar, and the small
   proof-of-work each upload carries. Without this script the form is a plain multipart upload.
   Nothing is kept on the witness's device: no storage, no cookies beyond the page's session. */
(function () {
  "use strict";
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
  var W = new Int32Array(64);

  /* The first word of SHA-256 of an ASCII string shorter than 56 bytes (one block). */
  function sha256First(s) {
    var i, n = s.length;
    for (i = 0; i < 16; i++) W[i] = 0;
    for (i = 0; i < n; i++) W[i >> 2] |= s.charCodeAt(i) << (24 - (i & 3) * 8);
    W[n >> 2] |= 0x80 << (24 - (n & 3) * 8);
    W[15] = n * 8;
    for (i = 16; i < 64; i++) {
      var x = W[i - 15], y = W[i - 2];
      var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    var a = 0x6a09e667, b = 0xbb67ae85, c = 0x3c6ef372, d = 0xa54ff53a;
    var e = 0x510e527f, f = 0x9b05688c, g = 0x1f83d9ab, h = 0x5be0cd19;
    for (i = 0; i < 64; i++) {
      var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    return (a + 0x6a09e667) >>> 0;
  }

  var next = 0;
  /* A fresh nonce whose hash with the challenge starts with `bits` zero bits (bits <= 32). */
  function solve(challenge, bits) {
    return new Promise(function (resolve) {
      function step() {
        for (var k = 0; k < 20000; k++, next++) {
          if (sha256First(challenge + ":" + next) >>> (32 - bits) === 0) {
            resolve(String(next++));
            return;
          }
        }
        setTimeout(step, 0);
      }
      step();
    });
  }

  function b64(s) {
    return btoa(unescape(encodeURIComponent(s)));
  }

  function request(method, url, headers, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      x.open(method, url);
      Object.keys(headers).forEach(function (k) { x.setRequestHeader(k, headers[k]); });
      if (onProgress && x.upload) x.upload.onprogress = function (ev) { onProgress(ev.loaded); };
      x.onload = function () { resolve(x); };
      x.onerror = x.ontimeout = x.onabort = function () { reject(new Error("network")); };
      x.send(body);
    });
  }

  function wait(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  var CHUNK = 1024 * 1024;

  function setup(form) {
    var d = form.dataset, input = form.querySelector("input[type=file]");
    var bar = form.querySelector("progress"), note = form.querySelector(".upload-note");
    var csrf = "csrf_token=" + encodeURIComponent(d.csrf), bits = parseInt(d.bits, 10);
    var done = {};  /* file key -> upload URL, so a second press of Send resumes, never restarts */

    function say(text) { if (note) note.textContent = text; }

    function upload(file, sent, total) {
      var key = [file.name, file.size, file.lastModified].join("/");
      var url = done[key], offset = 0, tries = 0;
      function show(n) {
        if (bar) bar.value = Math.floor(((sent + offset + n) * 100) / Math.max(total, 1));
      }
      function create() {
        say(d.msgPow);
        return solve(d.pow, bits).then(function (nonce) {
          var meta = "filename " + b64(file.name) + ",filetype " + b64(file.type || "") +
            ",pow " + b64(d.pow + ":" + nonce);
          return request("POST", d.tus + "?" + csrf, {
            "Tus-Resumable": "1.0.0", "Upload-Length": String(file.size), "Upload-Metadata": meta,
            "Content-Type": "application/offset+octet-stream"}, null);
        }).then(function (x) {
          if (x.status !== 201) throw new Error("refused:" + x.responseText);
          url = x.getResponseHeader("Location");
        });
      }
      function where() {
        return request("HEAD", url + "?" + csrf, {"Tus-Resumable": "1.0.0"}, null).then(function (x) {
          if (x.status === 404) { url = null; offset = 0; return; }
          offset = parseInt(x.getResponseHeader("Upload-Offset"), 10) || 0;
        });
      }
      function loop() {
        if (!url) return create().then(loop);
        if (offset >= file.size) return Promise.resolve(url);
        say(d.msgUpload);
        var end = Math.min(offset + CHUNK, file.size);
        return request("PATCH", url + "?" + csrf, {
          "Tus-Resumable": "1.0.0", "Upload-Offset": String(offset),
          "Content-Type": "application/offset+octet-stream"}, file.slice(offset, end), show
        ).then(function (x) {
          if (x.status === 204) { offset = parseInt(x.getResponseHeader("Upload-Offset"), 10); tries = 0; }
          else if (x.status === 409 || x.status === 404) return where();
          else throw new Error("refused:" + x.responseText);
        }).catch(function (err) {
          if (String(err.message).indexOf("refused:") === 0) throw err;
          tries += 1;
          if (tries > 40) throw err;
          say(d.msgRetry);
          return wait(Math.min(30000, 500 * tries)).then(function () { return url ? where() : null; });
        }).then(loop);
      }
      return (url ? where() : Promise.resolve()).then(loop).then(function () {
        done[key] = url;
        return url.split("/").pop();
      });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      var files = input ? Array.prototype.slice.call(input.files) : [];
      var total = files.reduce(function (s, f) { return s + f.size; }, 0), sent = 0, ids = [];
      if (bar && files.length) { bar.hidden = false; bar.value = 0; }
      var chain = Promise.resolve();
      files.forEach(function (f) {
        chain = chain.then(function () { return upload(f, sent, total); }).then(function (id) {
          ids.push(id); sent += f.size;
        });
      });
      chain.then(function () {
        say(d.msgPow);
        return solve(d.pow, bits);
      }).then(function (nonce) {
        form.querySelector("input[name=uploads]").value = ids.join(" ");
        form.querySelector("input[name=pow_nonce]").value = nonce;
        if (input) input.disabled = true;  /* the files went by tus: the form carries only their ids */
        say(d.msgSend);
        form.submit();
      }).catch(function (err) {
        say(d.msgFailed);
        if (button) button.disabled = false;
        if (window.console) console.log("upload stopped: " + err.message);
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-tus]"), setup);
})();
