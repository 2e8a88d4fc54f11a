/* Agent console: live updates over the agents' websocket, unread count in the tab title,
 * Enter-to-send, and the typing indicator. Everything rendered comes from the server
 * (htmx fragments), so customer text is always escaped by the templates. */
(function () {
  "use strict";
  var body = document.body;
  var current = body.getAttribute("data-current");
  var unread = 0;
  var baseTitle = document.title;
  var typingTimer = null;
  var lastTyping = 0;
  var retry = 0;

  function setUnread(n) {
    unread = n;
    document.title = unread > 0 ? "(" + unread + ") " + baseTitle : baseTitle;
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { setUnread(0); }
  });

  function refresh(selector) {
    var node = document.querySelector(selector);
    if (node && window.htmx) { window.htmx.trigger(node, "refresh"); }
  }

  function onEvent(event) {
    var mine = current && String(event.conversation_id) === current;
    if (event.type === "message.created" || event.type === "message.updated" || event.type.indexOf("conversation.") === 0) {
      refresh("#inbox-list");
      if (mine) { refresh("#timeline"); }
      if (event.type === "message.created" && !event.internal && (!mine || document.hidden)) {
        setUnread(unread + 1);
      }
    } else if (event.type === "typing" && mine && event.who === "customer") {
      var line = document.getElementById("typing");
      if (line) {
        line.textContent = line.getAttribute("data-text") || "…";
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { line.textContent = ""; }, 4000);
      }
    } else if (event.type === "resync") {
      refresh("#inbox-list");
      if (current) { refresh("#timeline"); }
    }
  }

  function connect() {
    var socket = new WebSocket(location.origin.replace(/^http/, "ws") + "/api/v1/events");
    socket.onopen = function () { retry = 0; body.classList.remove("offline"); };
    socket.onmessage = function (e) { onEvent(JSON.parse(e.data)); };
    socket.onclose = function () {
      body.classList.add("offline");
      setTimeout(connect, Math.min(15000, 500 * Math.pow(2, retry++)));
      refresh("#inbox-list");
    };
  }
  connect();

  document.addEventListener("keydown", function (e) {
    var box = e.target;
    if (box.matches && box.matches("form.reply textarea") && e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (box.value.trim()) { box.form.requestSubmit(); }
    }
  });

  document.addEventListener("input", function (e) {
    if (!current || !e.target.matches || !e.target.matches("form.reply textarea")) { return; }
    var now = Date.now();
    if (now - lastTyping < 3000) { return; }
    lastTyping = now;
    var csrf = JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"];
    fetch("/api/v1/conversations/" + current + "/typing", { method: "POST", headers: { "X-CSRF-Token": csrf } });
  });

  var timeline = document.getElementById("timeline");
  if (timeline) {
    timeline.scrollTop = timeline.scrollHeight;
    document.body.addEventListener("htmx:afterSwap", function (e) {
      if (e.target.id === "timeline") { e.target.scrollTop = e.target.scrollHeight; }
    });
  }
})();
