// Click a column header to sort the table by it (again to reverse). Cells sort by their
// data-sort value when they have one (numbers compare as numbers), else by their text.
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th.sortable").forEach(function (th) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], index = th.cellIndex;
      var up = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var key = function (row) {
        var cell = row.cells[index], value = cell.getAttribute("data-sort");
        if (value === null) value = cell.textContent.trim();
        var number = parseFloat(value);
        return value !== "" && !isNaN(number) && isFinite(value) ? number : value.toLowerCase();
      };
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === y) return 0;
        if (x === "") return 1;
        if (y === "") return -1;
        var order = typeof x === typeof y ? (x < y ? -1 : 1) : (typeof x === "number" ? -1 : 1);
        return up ? order : -order;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
