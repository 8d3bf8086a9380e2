// The chat simulator: talks to /simulator/* (which drive the local channel), no build step.
(function () {
  "use strict";
  var root = document.getElementById("sim");
  if (!root) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var userSel = document.getElementById("sim-user");
  var log = document.getElementById("chat-log");
  var inbox = document.getElementById("inbox");
  var groups = document.getElementById("groups");
  var status = document.getElementById("sim-status");
  var nowOut = document.getElementById("sim-now");
  var queue = Promise.resolve();  // one request at a time, in the order asked for

  function serial(fn) {
    queue = queue.then(fn, fn);
    return queue;
  }

  function user() { return userSel.value; }
  function key() { return "sim-chat:" + user(); }
  function history() {
    try { return JSON.parse(sessionStorage.getItem(key()) || "[]"); } catch (e) { return []; }
  }
  function remember(item) {
    var h = history();
    h.push(item);
    sessionStorage.setItem(key(), JSON.stringify(h.slice(-60)));
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {error: "HTTP " + r.status}; })
        .then(function (data) { data._status = r.status; return data; });
    });
  }

  // one message bubble: text (kept as text, never HTML) and its card buttons
  function bubble(msg, who) {
    var li = document.createElement("li");
    li.className = "msg " + who + (msg.urgent ? " urgent" : "");
    if (msg.meta) {
      var meta = document.createElement("small");
      meta.className = "meta";
      meta.textContent = msg.meta;
      li.appendChild(meta);
    }
    var p = document.createElement("p");
    p.textContent = msg.text;
    li.appendChild(p);
    if (msg.buttons && msg.buttons.length) {
      var row = document.createElement("div");
      row.className = "card-buttons";
      row.setAttribute("role", "group");
      row.setAttribute("aria-label", "卡片按钮");
      msg.buttons.forEach(function (b) {
        var btn = document.createElement("button");
        btn.type = "button";
        btn.className = "btn small";
        btn.textContent = b.label;
        btn.dataset.action = b.action;
        btn.addEventListener("click", function () { send({action: b.action}, "［按钮］" + b.label); });
        row.appendChild(btn);
      });
      li.appendChild(row);
    }
    return li;
  }

  function renderChat() {
    log.textContent = "";
    var h = history();
    if (!h.length) {
      var hint = document.createElement("li");
      hint.className = "empty";
      hint.textContent = "发一条消息试试，例如「今日任务」。";
      log.appendChild(hint);
    }
    h.forEach(function (m) { log.appendChild(bubble(m, m.who)); });
    log.scrollTop = log.scrollHeight;
  }

  function feedItem(m) {
    return bubble({text: m.text, buttons: m.buttons, urgent: m.urgent,
                   meta: (m.local || "") + " · " + (m.status === "sent" ? "已发送" : m.status === "failed" ? "发送失败" : "待发送")}, "bot");
  }

  function setNow(now) {
    if (!now) return;
    nowOut.textContent = now.label;
    nowOut.dataset.iso = now.iso;
  }

  function refresh() {
    return fetch(root.dataset.feed + "?user=" + encodeURIComponent(user()), {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        setNow(data.now);
        inbox.textContent = "";
        if (!data.messages.length) {
          var empty = document.createElement("li");
          empty.className = "empty";
          empty.textContent = "还没有推送。";
          inbox.appendChild(empty);
        }
        data.messages.forEach(function (m) { inbox.appendChild(feedItem(m)); });
        inbox.scrollTop = inbox.scrollHeight;
        groups.textContent = "";
        if (!data.groups.length) {
          var none = document.createElement("p");
          none.className = "muted";
          none.textContent = "该用户的团队没有群。";
          groups.appendChild(none);
        }
        data.groups.forEach(function (g) {
          var h = document.createElement("h3");
          h.textContent = g.name + "（" + g.id + "）";
          var ol = document.createElement("ol");
          ol.className = "chat feed";
          ol.dataset.group = g.id;
          g.messages.forEach(function (m) { ol.appendChild(feedItem(m)); });
          if (!g.messages.length) {
            var li = document.createElement("li");
            li.className = "empty";
            li.textContent = "群里还没有消息。";
            ol.appendChild(li);
          }
          groups.appendChild(h);
          groups.appendChild(ol);
          ol.scrollTop = ol.scrollHeight;
        });
      });
  }

  function send(body, shown) {
    return serial(function () {
      body.user = user();
      remember({who: "me", text: shown || body.text});
      renderChat();
      return post(root.dataset.send, body).then(function (data) {
        if (data.error) {
          remember({who: "bot error", text: "⚠️ " + data.error});
        } else {
          (data.replies || []).forEach(function (r) {
            remember({who: "bot", text: r.text, buttons: r.buttons, urgent: r.urgent});
          });
        }
        renderChat();
        return refresh();
      });
    });
  }

  function advance(body) {
    return serial(function () {
      status.textContent = "正在运行调度任务……";
      return post(root.dataset.advance, body).then(function (data) {
        if (data.error) { status.textContent = "⚠️ " + data.error; return; }
        setNow(data.now);
        status.textContent = "⏩ " + data.now.label + "：" + data.summary;
        return refresh();
      });
    });
  }

  document.getElementById("say").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = document.getElementById("say-text");
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({text: text}).then(function () { input.focus(); });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-say]"), function (b) {
    b.addEventListener("click", function () { send({text: b.dataset.say}); });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-advance]"), function (b) {
    b.addEventListener("click", function () { advance(JSON.parse(b.dataset.advance)); });
  });
  document.getElementById("goto").addEventListener("submit", function (e) {
    e.preventDefault();
    advance({at: document.getElementById("goto-at").value});
  });
  userSel.addEventListener("change", function () { renderChat(); refresh(); });

  // the guided tour: one step at a time, each through the same messages and jobs
  var tour = document.getElementById("tour");
  var tourOut = document.getElementById("tour-out");
  function line(parent, tag, text, cls) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = text;
    parent.appendChild(el);
    return el;
  }
  function showStep(data) {
    tourOut.textContent = "";
    line(tourOut, "h3", data.title + " · " + data.now.label);
    line(tourOut, "p", data.text);
    (data.replies || []).forEach(function (t) { line(tourOut, "p", "🤖 " + t, "msg bot"); });
    if (data.summary) line(tourOut, "p", "⏩ " + data.summary, "muted");
    var n = data.numbers, dl = document.createElement("dl");
    dl.className = "facts tour-numbers";
    [["导览商机", n.deal], ["团队预警", "🔴 " + n.levels.red + " · 🟠 " + n.levels.orange + " · 🟡 " + n.levels.yellow],
     ["提前干预率（" + n.period + "）", n.intervention["提前干预率"]],
     ["预警覆盖率", n.intervention["预警覆盖率"]]].forEach(function (kv) {
      line(dl, "dt", kv[0]);
      line(dl, "dd", kv[1]).dataset.tourNumber = kv[0];
    });
    tourOut.appendChild(dl);
    Array.prototype.forEach.call(tour.querySelectorAll("[data-tour]"), function (b) {
      b.classList.toggle("primary", b.dataset.tour === data.next);
      b.disabled = !(b.dataset.tour === "start" || b.dataset.tour === data.next);
      if (b.dataset.tour === data.step) b.setAttribute("aria-current", "step"); else b.removeAttribute("aria-current");
    });
    tour.dataset.step = data.step;
  }
  if (tour) {
    Array.prototype.forEach.call(tour.querySelectorAll("[data-tour]"), function (b) {
      b.addEventListener("click", function () {
        serial(function () {
          if (b.dataset.tour === "start") {
            userSel.value = "rep1";
            Object.keys(sessionStorage).forEach(function (k) { if (k.indexOf("sim-chat:") === 0) sessionStorage.removeItem(k); });
            renderChat();
          }
          status.textContent = "正在运行……";
          return post(tour.dataset.url, {step: b.dataset.tour}).then(function (data) {
            if (data.error) { status.textContent = "⚠️ " + data.error; return; }
            status.textContent = "";
            setNow(data.now);
            showStep(data);
            return refresh();
          });
        });
      });
    });
  }

  renderChat();
  refresh();
})();
