// The status page, live: every data-refresh-seconds (30) it fetches /api/v1/status and
// updates the page in place (no reload, no flash, focus kept), and arrow keys move between
// the day cells of one bar (one tab stop per bar).  The page works without this script:
// then it shows what the server rendered, and every cell is its own tab stop.
//
// What it renders mirrors templates/status.html.j2 (the labels come from the page's JSON
// data block); tests/web/test_status_browser.py checks that both renderings read alike.
"use strict";
(function () {
  var main = document.getElementById("status");
  var data = document.getElementById("status-labels");
  if (!main || !data) { return; }
  var T = JSON.parse(data.textContent);
  var L = T.L;
  var SVG = "http://www.w3.org/2000/svg";
  var NOTABLE = ["outage", "degraded", "maintenance"];

  // -- keyboard: one tab stop per bar, arrows, Home and End ---------------------------------

  function roving(bar) {
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
  }
  document.querySelectorAll("ol.bars").forEach(roving);

  // -- building blocks (the template's macros) ------------------------------------------------

  function h(tag, attrs, kids) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    (kids || []).forEach(function (k) {
      el.appendChild(typeof k === "string" ? document.createTextNode(k) : k);
    });
    return el;
  }
  function bi(pair) {
    return [h("span", { lang: "zh-CN" }, [pair[0]]), " ",
            h("span", { lang: "en", "class": "en" }, [pair[1]])];
  }
  function fmt(pair, key, value) {
    return [pair[0].replace("{" + key + "}", value), pair[1].replace("{" + key + "}", value)];
  }
  function icon(name) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("viewBox", "0 0 16 16");
    var use = document.createElementNS(SVG, "use");
    use.setAttribute("href", "#i-" + name);
    svg.appendChild(use);
    return svg;
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  // Times arrive in the contract's zone with its offset: show that wall time as it is
  // (never the browser's zone), UTC in the tooltip.
  function local(ts) { return ts.slice(0, 10) + " " + ts.slice(11, 16); }
  function utc(ts) {
    var d = new Date(ts);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + " UTC";
  }
  function time(ts) { return h("time", { datetime: ts, title: utc(ts) }, [local(ts)]); }
  function pct(v) { return v === null ? "—" : v + " %"; }
  function stateText(s) { return T.STATES[s][0] + " " + T.STATES[s][1]; }
  function mins(v) { return v + " " + L.minutes[0] + " / " + L.minutes[1]; }
  function dayText(d) {
    var t = d.date + "：" + stateText(d.state);
    if (d.availability_percent === null) { return t; }
    t += "，" + L.availability[0] + " " + L.availability[1] + " " + d.availability_percent +
      " %，" + L.downtime[0] + " " + L.downtime[1] + " " + mins(d.downtime_minutes);
    if (d.maintenance_seconds) {
      t += "，" + L.maintenance_time[0] + " " + L.maintenance_time[1] + " " +
        mins(d.maintenance_minutes);
    }
    if (d.coverage_percent !== "100.000") {
      t += "，" + L.coverage[0] + " " + L.coverage[1] + " " + d.coverage_percent + " %";
    }
    return t;
  }

  // -- updating: touch the DOM only where something changed ---------------------------------

  function setText(el, text) { if (el.textContent !== text) { el.textContent = text; } }
  function setAttr(el, name, value) {
    if (el.getAttribute(name) !== value) { el.setAttribute(name, value); }
  }
  function fill(el, kids) {
    var next = h(el.tagName.toLowerCase(), {}, kids);
    if (!next.isEqualNode(h(el.tagName.toLowerCase(), {}, Array.prototype.slice.call(
      el.childNodes).map(function (n) { return n.cloneNode(true); })))) {
      el.replaceChildren.apply(el, Array.prototype.slice.call(next.childNodes));
    }
  }
  function stateClass(el, base, state) { setAttr(el, "class", base + " state--" + state); }

  // The banner is a live region: touched only when the state changes, so a screen reader
  // hears a change, not every refresh.
  function banner(doc) {
    var el = main.querySelector(".banner");
    if (el.getAttribute("class") === "banner state--" + doc.state) { return; }
    stateClass(el, "banner", doc.state);
    fill(el, [icon(doc.state), h("p", {}, bi(T.BANNERS[doc.state]))]);
  }

  function notable(days) {
    var rows = days.filter(function (d) { return NOTABLE.indexOf(d.state) >= 0; }).reverse();
    if (!rows.length) { return [rows, [h("p", {}, bi(L.none_notable))]]; }
    var th = function (pair) { return h("th", { scope: "col" }, bi(pair)); };
    return [rows, [h("table", {}, [
      h("thead", {}, [h("tr", {}, [th(L.date), th(L.state), th(L.availability),
                                   th(L.downtime)])]),
      h("tbody", {}, rows.map(function (d) {
        return h("tr", { "class": "state--" + d.state }, [
          h("td", {}, [d.date]), h("td", {}, [icon(d.state), " " + stateText(d.state)]),
          h("td", {}, [d.availability_percent + " %"]), h("td", {}, [mins(d.downtime_minutes)])]);
      }))])]];
  }

  function service(s, days) {
    var el = document.getElementById("service-" + s.service);
    var badge = el.querySelector(".badge");
    if (badge.getAttribute("class") !== "badge state--" + s.state) {
      stateClass(badge, "badge", s.state);
      fill(badge, [icon(s.state)].concat(bi(T.STATES[s.state])));
    }
    setText(el.querySelector(".fig-month strong"), pct(s.month.availability_percent));
    setText(el.querySelector(".fig-uptime strong"), pct(s.uptime_percent));
    fill(el.querySelector(".since"), s.monitored_since
      ? bi(L.since).concat([" ", time(s.monitored_since)]) : bi(L.not_monitored));
    var bar = el.querySelector("ol.bars");
    setAttr(bar, "aria-label", s.title + "：" + days + " " + L.days[0] + " / " + days + " " +
      L.days[1] + "，" + L.availability[0] + " " + L.availability[1] + " " +
      (s.uptime_percent || "—") + " %");
    var cells = bar.querySelectorAll("li.day");
    s.days.forEach(function (d, i) {
      var text = dayText(d);
      stateClass(cells[i], "day", d.state);
      setAttr(cells[i], "aria-label", text);
      setText(cells[i].querySelector(".tip"), text);
    });
    var n = notable(s.days);
    setText(el.querySelector(".notable .count"), String(n[0].length));
    fill(el.querySelector(".notable-body"), n[1]);
  }

  function incident(i, heading) {
    var events = i.timeline.map(function (e, k) {
      var kids = [h("span", { "class": "ev" }, bi(T.EVENTS[e.event])), " ", time(e.at)];
      if (k > 0) {
        kids.push(" ", h("span", { "class": "after" }, [
          L.after[0] + e.after[0] + " / " + L.after[1] + e.after[1]]));
      }
      return h("li", { "class": "event event--" + e.event }, kids);
    });
    return h("li", { "class": "incident priority--" + i.priority }, [
      h("p", { "class": "incident-head" }, [
        h("span", { "class": "priority" }, [i.priority_label]), " ",
        h("span", { "class": "istate" }, bi(T.INCIDENT_STATES[i.state]))]),
      h(heading, { "class": "incident-title" }, [i.title]),
      h("p", { "class": "incident-meta" }, [i.id + " · "].concat(bi(L.service),
                                                                   [" " + i.service_title])),
      h("ol", { "class": "timeline" }, events),
      h("p", { "class": "duration" }, bi(i.ongoing ? L.ongoing : L.lasted).concat([
        " ", h("strong", {}, [i.duration[0] + " / " + i.duration[1]])]))]);
  }

  function incidents(doc) {
    fill(document.getElementById("incidents-body"), doc.incidents.length
      ? [h("ul", { "class": "incidents" }, doc.incidents.map(function (i) {
        return incident(i, "h3");
      }))]
      : [h("p", { "class": "empty" }, [icon("operational")].concat(bi(L.no_incidents)))]);
  }

  function maintenance(doc) {
    fill(document.getElementById("maintenance-body"), doc.maintenance.length
      ? [h("ul", { "class": "maintenance" }, doc.maintenance.map(function (m) {
        return h("li", {}, [
          h("p", { "class": "incident-head" }, [icon("maintenance"), h("span", {
            "class": "istate" }, bi(m.in_progress ? L.in_progress : L.upcoming))]),
          h("h3", {}, [m.title || m.id]),
          h("p", { "class": "incident-meta" }, bi(L.service).concat(
            [" " + m.service_titles.join("、") + " · "], bi(L.window),
            [" ", time(m.start), " – ", time(m.end), " · "], bi(L.announced),
            [" ", time(m.announced)]))]);
      }))]
      : [h("p", { "class": "empty" }, bi(L.no_maintenance))]);
  }

  function history(doc) {
    var kids = [];
    var last = null;
    var list = null;
    doc.resolved_incidents.forEach(function (i) {
      var day = i.opened.slice(0, 10);
      if (day !== last) {
        kids.push(h("h3", { "class": "day-head" }, [h("time", { datetime: day }, [day])]));
        list = h("ul", { "class": "incidents resolved" }, []);
        kids.push(list);
        last = day;
      }
      list.appendChild(incident(i, "h4"));
    });
    if (!kids.length) {
      var none = fmt(L.no_history, "n", doc.days);
      kids.push(h("p", { "class": "empty" }, [none[0] + " ", h("span", {
        lang: "en", "class": "en" }, [none[1]])]));
    }
    fill(document.getElementById("history-body"), kids);
  }

  function update(doc) {
    var stamp = document.getElementById("updated");
    setAttr(stamp, "datetime", doc.generated);
    setAttr(stamp, "title", utc(doc.generated));
    setText(stamp, local(doc.generated));
    banner(doc);
    doc.services.forEach(function (s) { service(s, doc.days); });
    incidents(doc);
    maintenance(doc);
    history(doc);
  }

  // -- the refresh loop ----------------------------------------------------------------------

  var every = 1000 * Math.max(5, Number(main.getAttribute("data-refresh-seconds")) || 30);
  var timer = null;
  var error = document.getElementById("refresh-error");

  function matches(doc) {  // the configured services, as rendered (a restart may change them)
    return doc.services.every(function (s) {
      var el = document.getElementById("service-" + s.service);
      return el && el.querySelectorAll("li.day").length === s.days.length;
    });
  }

  function refresh() {
    timer = null;
    fetch("/api/v1/status", { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (doc) {
        if (!matches(doc)) { window.location.reload(); return; }
        update(doc);
        error.hidden = true;
      })
      .catch(function () { error.hidden = false; })
      .then(schedule);
  }

  function schedule() {
    if (timer === null && !document.hidden) { timer = window.setTimeout(refresh, every); }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (timer !== null) { window.clearTimeout(timer); timer = null; }
    } else if (timer === null) {
      refresh();  // back on the tab: show the present at once
    }
  });
  document.getElementById("refresh-note").hidden = false;
  schedule();
}());
