// The dashboard's manager numbers: when the page came without them, fetch them (no build step).
(function () {
  "use strict";
  var box = document.getElementById("kpi");
  if (!box || !box.dataset.pending) return;
  function each(sel, fn) { Array.prototype.forEach.call(document.querySelectorAll(sel), fn); }
  fetch(box.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (data) {
      document.getElementById("kpi-metrics").innerHTML = data.metrics_html;  // rendered (escaped) by the server
      var stalls = document.getElementById("kpi-stalls");
      stalls.innerHTML = data.stalls_html;
      stalls.hidden = !data.stalls_html.trim();
      document.getElementById("kpi-trend").innerHTML = data.trend_html;
      document.getElementById("kpi-lost").innerHTML = data.lost_html;
      each("[data-repstat]", function (td) {
        var s = data.reps[td.dataset.repstat];
        if (td.dataset.field !== "target") {
          td.textContent = s ? s[td.dataset.field] : "0";
          return;
        }
        td.textContent = s ? s.target + " " : "—";
        td.classList.toggle("unset", !!s && !s.target_set);
        if (s) {
          var small = document.createElement("small");
          small.className = "muted";
          small.textContent = s.target_detail;
          td.appendChild(small);
        }
      });
      each("[data-conv]", function (td) {
        var s = data.stages[td.dataset.conv];
        td.textContent = s ? s.conversion : "—";
        if (s) {
          td.title = s.title;
          if (s.stalled) {
            var span = document.createElement("span");
            span.className = "stall";
            span.title = "停滞（红色）商机数";
            span.textContent = " ⏸" + s.stalled;
            td.appendChild(span);
          }
        }
      });
      each("[data-followup]", function (td) {
        var f = data.followup[td.dataset.followup];
        td.textContent = f ? f.days + " " : "—";
        if (f) {
          var small = document.createElement("small");
          small.className = "muted";
          small.textContent = "(" + f.customers + "客户)";
          td.appendChild(small);
        }
      });
      box.removeAttribute("aria-busy");
      delete box.dataset.pending;
      box.dataset.ready = "1";
    })
    .catch(function (e) {
      document.getElementById("kpi-metrics").textContent = "⚠️ 指标暂时算不出来（" + e.message + "），请稍后刷新。";
      box.removeAttribute("aria-busy");
    });
})();
