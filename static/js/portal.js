// Keyboard work on case lists: "/" focuses search, j/k move through rows, Enter opens the
// selected case's page. Where the page has a case panel beside the list (the queue), a
// click on a row shows the case there, n/p show the next/previous case in it, o opens the
// case shown in full and Escape closes it. Also: "check every case" on the queue.
(function () {
  "use strict";
  var selected = -1;

  function rows() {
    var list = document.querySelector("[data-keyboard-list]");
    return list ? Array.prototype.slice.call(list.querySelectorAll("tbody tr")) : [];
  }

  function select(index) {
    var all = rows();
    if (!all.length) { return null; }
    selected = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    all[selected].scrollIntoView({ block: "nearest" });
    return all[selected];
  }

  function rowLink(row) {
    return row ? row.querySelector("[data-row-link]") : null;
  }

  function panel() {
    return document.getElementById("case-panel");
  }

  // A row's link with hx-get fills the panel when clicked.
  function open(row) {
    var link = rowLink(row);
    if (link) { link.click(); }
  }

  function step(by) {
    var row = select(selected + by);
    if (row && panel()) { open(row); }
  }

  function openFull() {
    var inPanel = document.querySelector("[data-panel-open]");
    var link = inPanel || rowLink(rows()[selected]);
    if (link) { window.location.href = link.href; }
  }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing(event.target)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    if (event.key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (event.key === "j") {
      select(selected + 1);
    } else if (event.key === "k") {
      select(selected - 1);
    } else if (event.key === "Enter" && selected >= 0 && !/^(A|BUTTON)$/.test(event.target.tagName)) {
      var link = rowLink(rows()[selected]);
      if (link) { window.location.href = link.href; }
    } else if (event.key === "n" && panel()) {
      step(1);
    } else if (event.key === "p" && panel()) {
      step(-1);
    } else if (event.key === "o" && panel() && panel().children.length) {
      openFull();
    } else if (event.key === "Escape" && panel()) {
      panel().innerHTML = "";
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    var stepButton = target.closest("[data-panel-step]");
    if (stepButton) {
      step(parseInt(stepButton.getAttribute("data-panel-step"), 10));
      return;
    }
    if (target.closest("[data-panel-close]") && panel()) {
      panel().innerHTML = "";
      return;
    }
    // A click on a row's link selects that row, so n/p carry on from there.
    var link = target.closest("[data-row-link]");
    if (link) {
      var index = rows().indexOf(link.closest("tr"));
      if (index >= 0) { select(index); }
    }
  });

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.hasAttribute("data-select-all")) { return; }
    var list = box.closest("table");
    if (!list) { return; }
    list.querySelectorAll("input[name=case_id]").forEach(function (each) { each.checked = box.checked; });
  });

  // A new list arrived from the server: start again from the top.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id !== "case-panel") { selected = -1; }
  });
})();
