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
      if (mine && event.type === "message.created") {  // what was being typed has arrived
        var typing = document.getElementById("typing");
        if (typing) { clearTimeout(typingTimer); typing.textContent = ""; }
      }
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
    var internal = e.target.form && e.target.form.querySelector("input[name=internal]");
    if (internal && internal.checked) { return; }  // a note for colleagues: the customer sees no typing
    var now = Date.now();
    if (now - lastTyping < 3000) { return; }
    lastTyping = now;
    var csrf = JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"];
    fetch("/api/v1/conversations/" + current + "/typing", { method: "POST", headers: { "X-CSRF-Token": csrf } });
  });

  /* htmx drops answers that are not 2xx: a refused reply (empty, a file type not allowed, the
   * conversation closed meanwhile) would vanish with the agent none the wiser. Say the server's
   * refusal (its page's alert, already in the console's language) above the form that was sent;
   * a session that ended goes to sign-in. */
  function refusalOf(xhr) {
    if ((xhr.getResponseHeader("content-type") || "").indexOf("text/html") === 0) {
      var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var alert = page.querySelector("[role=alert]");
      if (alert && alert.textContent.trim()) { return alert.textContent.trim(); }
    }
    return body.getAttribute("data-refused") || "";
  }

  document.body.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status === 401) { location.assign("/login"); return; }
    var form = e.detail.elt && e.detail.elt.closest ? e.detail.elt.closest("form") || e.detail.elt : null;
    if (!form || !form.parentNode) { return; }
    var note = form.previousElementSibling;
    if (!note || !note.classList.contains("refusal")) {
      note = document.createElement("p");
      note.className = "error refusal";
      note.setAttribute("role", "alert");
      form.parentNode.insertBefore(note, form);
    }
    note.textContent = refusalOf(xhr);
  });

  document.body.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt && e.detail.elt.closest ? e.detail.elt.closest("form") || e.detail.elt : null;
    var note = form && form.previousElementSibling;
    if (e.detail.successful && note && note.classList.contains("refusal")) { note.remove(); }
  });

  var timeline = document.getElementById("timeline");
  if (timeline) {
    timeline.scrollTop = timeline.scrollHeight;
    document.body.addEventListener("htmx:afterSwap", function (e) {
      if (e.target.id === "timeline") { e.target.scrollTop = e.target.scrollHeight; }
    });
  }
})();
