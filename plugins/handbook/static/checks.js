// A reader's ticks stay in their own browser (localStorage), never on the node.
(function () {
  var boxes = document.querySelectorAll("input[type=checkbox][data-check]");
  for (var i = 0; i < boxes.length; i++) {
    (function (box) {
      var key = "tequio-handbook:" + box.getAttribute("data-check");
      try { box.checked = window.localStorage.getItem(key) === "1"; } catch (e) { return; }
      box.addEventListener("change", function () {
        try { window.localStorage.setItem(key, box.checked ? "1" : "0"); } catch (e) { /* private mode */ }
      });
    })(boxes[i]);
  }
})();
