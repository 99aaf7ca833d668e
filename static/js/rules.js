/* The rule editor of a program's page: add a rule, move rules up and down (their Position fields follow), number
   them. The page works without it: the last row is blank for a new rule and positions can be typed. */
(function () {
  "use strict";
  var list = document.getElementById("rule-rows");
  var template = document.getElementById("rule-template");
  var total = document.querySelector("input[name='rules-TOTAL_FORMS']");
  if (!list || !template || !total) return;

  function rows() { return Array.prototype.slice.call(list.querySelectorAll("[data-rule-row]")); }

  function renumber() {
    rows().forEach(function (row, i) {
      var order = row.querySelector("input[name$='-ORDER']");
      if (order) order.value = String(i + 1);
      var number = row.querySelector(".rule-number");
      if (number) number.textContent = (i + 1) + ".";
    });
  }

  function changed() { document.dispatchEvent(new Event("change")); }  // ui.js shows the fields of each choice

  var add = document.getElementById("add-rule");
  if (add) {
    add.hidden = false;
    add.addEventListener("click", function () {
      var index = parseInt(total.value, 10);
      var holder = document.createElement("div");
      holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index));
      var row = holder.querySelector("[data-rule-row]");
      list.appendChild(row);
      total.value = String(index + 1);
      renumber();
      changed();
      var first = row.querySelector("input[type=text]");
      if (first) first.focus();
    });
  }

  list.addEventListener("click", function (event) {
    var button = event.target.closest("[data-move]");
    if (!button) return;
    var row = button.closest("[data-rule-row]");
    if (button.getAttribute("data-move") === "up" && row.previousElementSibling) {
      list.insertBefore(row, row.previousElementSibling);
    } else if (button.getAttribute("data-move") === "down" && row.nextElementSibling) {
      list.insertBefore(row.nextElementSibling, row);
    }
    renumber();
    button.focus();
  });

  renumber();
})();
