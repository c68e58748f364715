/* srbench site: sortable tables and leaderboard filters. No dependencies, works from file://. */
(function () {
  "use strict";

  function cellKey(row, idx) {
    var cell = row.cells[idx];
    if (!cell) { return ""; }
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent.trim() : v;
  }

  function compare(a, b, type, dir) {
    // blanks always last, whatever the direction
    if (a.key === "" && b.key === "") { return a.i - b.i; }
    if (a.key === "") { return 1; }
    if (b.key === "") { return -1; }
    var c;
    if (type === "num") {
      c = parseFloat(a.key) - parseFloat(b.key);
    } else {
      c = a.key.localeCompare(b.key, undefined, { sensitivity: "base", numeric: true });
    }
    if (c === 0) { return a.i - b.i; }
    return dir === "ascending" ? c : -c;
  }

  function sortTable(table, th) {
    var headRow = th.parentNode;
    var idx = 0;
    // the column index counts only the last header row's cells
    for (var k = 0; k < headRow.cells.length; k++) { if (headRow.cells[k] === th) { idx = k; } }
    var current = th.getAttribute("aria-sort");
    var first = th.getAttribute("data-first") || "ascending";
    var dir = current === null ? first : (current === "ascending" ? "descending" : "ascending");
    for (var j = 0; j < headRow.cells.length; j++) { headRow.cells[j].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir);
    var type = th.getAttribute("data-type") || "text";
    var body = table.tBodies[0];
    var rows = [];
    for (var r = 0; r < body.rows.length; r++) {
      var row = body.rows[r];
      rows.push({ row: row, key: cellKey(row, idx), i: parseInt(row.getAttribute("data-i") || r, 10) });
    }
    rows.sort(function (a, b) { return compare(a, b, type, dir); });
    for (var n = 0; n < rows.length; n++) { body.appendChild(rows[n].row); }
  }

  function initSort(table) {
    var head = table.tHead;
    if (!head) { return; }
    var headRow = head.rows[head.rows.length - 1];
    Array.prototype.forEach.call(headRow.cells, function (th) {
      var btn = th.querySelector("button.sort");
      if (btn) { btn.addEventListener("click", function () { sortTable(table, th); }); }
    });
  }

  function initFilters(form) {
    var table = document.getElementById(form.getAttribute("aria-controls"));
    if (!table) { return; }
    var shown = document.getElementById("shown");
    function apply() {
      var family = form.elements.family ? form.elements.family.value : "";
      var kind = form.elements.kind ? form.elements.kind.value : "";
      var weights = form.elements.weights ? form.elements.weights.checked : false;
      var rows = table.tBodies[0].rows, n = 0;
      for (var i = 0; i < rows.length; i++) {
        var tr = rows[i];
        var ok = (!family || tr.getAttribute("data-family") === family) &&
                 (!kind || tr.getAttribute("data-kind") === kind) &&
                 (!weights || tr.getAttribute("data-weights") === "yes");
        tr.hidden = !ok;
        if (ok) { n++; }
      }
      if (shown) { shown.textContent = n + " of " + rows.length + " shown"; }
    }
    form.addEventListener("change", apply);
    form.addEventListener("input", apply);
    apply();
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), initSort);
    Array.prototype.forEach.call(document.querySelectorAll("form.filters"), initFilters);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
