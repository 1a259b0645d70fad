// Arrow keys move between the day cells of one bar (one tab stop per bar). The page
// works without this script: then every cell is its own tab stop.
"use strict";
document.querySelectorAll("ol.bars").forEach(function (bar) {
  var days = Array.prototype.slice.call(bar.querySelectorAll("li.day"));
  days.forEach(function (d, i) { d.tabIndex = i === days.length - 1 ? 0 : -1; });
  bar.addEventListener("keydown", function (e) {
    var i = days.indexOf(document.activeElement);
    var to = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: days.length - 1 }[e.key];
    if (i < 0 || to === undefined) { return; }
    e.preventDefault();
    to = Math.max(0, Math.min(days.length - 1, to));
    days[i].tabIndex = -1;
    days[to].tabIndex = 0;
    days[to].focus();
  });
});
