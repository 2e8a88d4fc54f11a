/* Helpline web chat widget: one <script> tag on any allowed site.
 *
 *   <script src="https://helpline.example/widget.js" data-account="Website" async></script>
 *
 * Customer and agent text is only ever inserted with textContent, never as HTML.
 * Messages carry a client id and are re-sent until the server acknowledges them; after a
 * network drop the widget reconnects and fetches everything after the last id it saw, so
 * nothing is lost and nothing is shown twice.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__helplineWidget) { return; }
  window.__helplineWidget = true;

  var TEXT = {
    en: { title: "Chat with us", open: "Chat", placeholder: "Type a message…", send: "Send",
          typing: "Agent is typing…", offline: "Reconnecting…", sending: "sending", failed: "Not sent",
          details: "Your contact details", name: "Name", email: "E-mail", phone: "Phone", save: "Save",
          codeSent: "We sent a code to ", code: "Code", confirm: "Confirm", saved: "Thank you!",
          attach: "Attach an image or PDF",
          busy: "Too many new chats from your network right now. Please try again later.",
          tooLong: "This message is too long: please split it.", fileType: "Only images (PNG, JPEG, GIF, WebP) and PDF files can be sent.",
          fileTooBig: "This file is too large to send.", notSaved: "Not saved: please check what you typed.",
          codeNotSent: "We cannot send a confirmation code right now: please go on in the chat." },
    ru: { title: "Напишите нам", open: "Чат", placeholder: "Напишите сообщение…", send: "Отправить",
          typing: "Оператор печатает…", offline: "Переподключение…", sending: "отправляется",
          failed: "Не отправлено", details: "Ваши контакты", name: "Имя", email: "E-mail", phone: "Телефон",
          save: "Сохранить", codeSent: "Мы отправили код на ", code: "Код", confirm: "Подтвердить",
          saved: "Спасибо!", attach: "Прикрепить изображение или PDF",
          busy: "Сейчас из вашей сети открыто слишком много чатов. Попробуйте позже.",
          tooLong: "Сообщение слишком длинное: разделите его на части.",
          fileType: "Можно отправлять только изображения (PNG, JPEG, GIF, WebP) и файлы PDF.",
          fileTooBig: "Файл слишком большой для отправки.", notSaved: "Не сохранено: проверьте, что вы ввели.",
          codeNotSent: "Сейчас не получается отправить код подтверждения: продолжайте, пожалуйста, в чате." },
    ar: { title: "تحدث معنا", open: "دردشة", placeholder: "اكتب رسالة…", send: "إرسال",
          typing: "الموظف يكتب…", offline: "جارٍ إعادة الاتصال…", sending: "جارٍ الإرسال",
          failed: "لم تُرسل", details: "بيانات الاتصال", name: "الاسم", email: "البريد الإلكتروني",
          phone: "الهاتف", save: "حفظ", codeSent: "أرسلنا رمزًا إلى ", code: "الرمز", confirm: "تأكيد",
          saved: "شكرًا لك!", attach: "إرفاق صورة أو ملف PDF",
          busy: "فُتحت محادثات كثيرة من شبكتك الآن. حاول مرة أخرى لاحقًا.",
          tooLong: "الرسالة طويلة جدًا: قسّمها إلى أجزاء.",
          fileType: "يمكن إرسال الصور (PNG وJPEG وGIF وWebP) وملفات PDF فقط.",
          fileTooBig: "الملف أكبر من أن يُرسل.", notSaved: "لم يُحفظ: تحقق مما كتبته.",
          codeNotSent: "لا يمكننا إرسال رمز التأكيد الآن: تابع في المحادثة من فضلك." }
  };
  var MAX_TEXT = 20000;  // what the server stores of one message
  var base = new URL(script.src, location.href).origin;
  var account = script.getAttribute("data-account") || "Website";
  var pageLang = (script.getAttribute("data-lang") || document.documentElement.lang || "").slice(0, 2).toLowerCase();
  var lang = TEXT[pageLang] ? pageLang : "en";
  var t = TEXT[lang];
  var storeKey = "helpline.widget." + base + "." + account;
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch (e) { saved = {}; }
  var state = { token: saved.token || null, lastId: 0, pending: saved.pending || [], socket: null,
                retry: 0, seen: {}, typingTimer: null, lastTypingSent: 0, flushTimer: null,
                // The server has taken the token in this page (a saved one may be stale: its chat
                // gone, or refused while new chats are held back). Sends wait for it.
                opened: false };

  function persist() {
    localStorage.setItem(storeKey, JSON.stringify({ token: state.token, pending: state.pending }));
  }

  function newClientId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // ---- UI (in a shadow root so the host page's CSS cannot break it, nor ours the page) ----
  var host = document.createElement("div");
  host.id = "helpline-widget";
  document.body.appendChild(host);
  var root = host.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent = [
    ":host{all:initial;font-family:system-ui,'Noto Sans','Noto Sans Arabic',sans-serif}",
    ".launcher{position:fixed;bottom:20px;inset-inline-end:20px;background:#2457d6;color:#fff;border:0;",
    "border-radius:24px;padding:12px 20px;font-size:15px;cursor:pointer;z-index:2147483646}",
    ".panel{position:fixed;bottom:80px;inset-inline-end:20px;width:340px;max-width:calc(100vw - 40px);height:460px;",
    "background:#fff;border-radius:10px;box-shadow:0 6px 24px rgba(0,0,0,.2);display:none;flex-direction:column;",
    "z-index:2147483647;overflow:hidden}",
    ".panel.open{display:flex}",
    ".head{background:#2457d6;color:#fff;padding:12px 14px;font-weight:600}",
    ".log{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px}",
    ".msg{max-width:80%;padding:7px 10px;border-radius:8px;white-space:pre-wrap;overflow-wrap:anywhere;",
    "word-break:break-word;font-size:14px;line-height:1.35}",
    ".msg.customer{align-self:flex-end;background:#2457d6;color:#fff}",
    ".msg.agent,.msg.bot,.msg.system{align-self:flex-start;background:#eef1f6;color:#1d2330}",
    ".msg.pending{opacity:.6}",
    ".choices{align-self:flex-start;display:flex;flex-wrap:wrap;gap:6px;max-width:90%}",
    ".choices button{border:1px solid #2457d6;background:#fff;color:#2457d6;border-radius:16px;padding:5px 12px;",
    "font-size:13px;cursor:pointer}",
    ".choices button:disabled{opacity:.45;cursor:default}",
    ".msg.failed{background:#b3261e}",
    ".status{font-size:12px;color:#667;padding:0 12px;min-height:16px}",
    "form.compose{display:flex;border-top:1px solid #e3e6ec}",
    "textarea{flex:1;border:0;padding:10px;font:inherit;resize:none;height:44px;outline:none}",
    "button.send{border:0;background:none;color:#2457d6;font-weight:600;padding:0 14px;cursor:pointer}",
    "button.attach{border:0;background:none;font-size:18px;padding:0 8px;cursor:pointer}",
    ".msg img{display:block;max-width:100%;max-height:200px;border-radius:6px;margin-top:4px}",
    ".msg a{color:inherit}",
    "details.profile{padding:6px 12px;border-top:1px solid #e3e6ec;font-size:13px}",
    "details.profile input{display:block;width:100%;box-sizing:border-box;margin:3px 0;padding:5px;font:inherit}",
    "details.profile button{margin-top:4px;border:0;background:#2457d6;color:#fff;border-radius:4px;padding:5px 10px}"
  ].join("");
  root.appendChild(style);
  var launcher = el("button", "launcher", t.open);
  launcher.type = "button";
  var panel = el("div", "panel");
  panel.setAttribute("dir", lang === "ar" ? "rtl" : "ltr");
  panel.setAttribute("lang", lang);
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", t.title);
  var head = el("div", "head", t.title);
  var log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  var status = el("div", "status");
  var form = el("form", "compose");
  var input = el("textarea");
  input.maxLength = MAX_TEXT;
  input.placeholder = t.placeholder;
  input.setAttribute("aria-label", t.placeholder);
  var send = el("button", "send", t.send);
  send.type = "submit";
  var attach = el("button", "attach", "📎");
  attach.type = "button";
  attach.setAttribute("aria-label", t.attach);
  attach.title = t.attach;
  var picker = el("input");
  picker.type = "file";
  picker.accept = "image/png,image/jpeg,image/gif,image/webp,application/pdf";
  picker.hidden = true;
  form.appendChild(attach);
  form.appendChild(picker);
  form.appendChild(input);
  form.appendChild(send);
  var profile = el("details", "profile");
  profile.appendChild(el("summary", "", t.details));
  var profileForm = el("form", "profile-form");
  var fields = {};
  [["name", "text"], ["email", "email"], ["phone", "tel"]].forEach(function (f) {
    var box = el("input");
    box.name = f[0];
    box.type = f[1];
    box.placeholder = t[f[0]];
    box.setAttribute("aria-label", t[f[0]]);
    fields[f[0]] = box;
    profileForm.appendChild(box);
  });
  var saveButton = el("button", "", t.save);
  saveButton.type = "submit";
  profileForm.appendChild(saveButton);
  var codeForm = el("form", "code-form");
  codeForm.hidden = true;
  var codeNote = el("div", "code-note");
  var codeBox = el("input");
  codeBox.name = "code";
  codeBox.inputMode = "numeric";
  codeBox.autocomplete = "one-time-code";
  codeBox.placeholder = t.code;
  codeBox.setAttribute("aria-label", t.code);
  var confirmButton = el("button", "", t.confirm);
  confirmButton.type = "submit";
  codeForm.appendChild(codeNote);
  codeForm.appendChild(codeBox);
  codeForm.appendChild(confirmButton);
  var profileStatus = el("div", "profile-status");
  profile.appendChild(profileForm);
  profile.appendChild(codeForm);
  profile.appendChild(profileStatus);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(status);
  panel.appendChild(profile);
  panel.appendChild(form);
  root.appendChild(launcher);
  root.appendChild(panel);

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text) { node.textContent = text; }
    return node;
  }

  launcher.addEventListener("click", function () {
    panel.classList.toggle("open");
    if (panel.classList.contains("open")) { input.focus(); }
  });

  function bubble(text, kind, key) {
    var node = el("div", "msg " + kind);
    node.textContent = text;            // never innerHTML: customer and agent text is data, not markup
    node.setAttribute("dir", "auto");   // Arabic reads right-to-left even in an English page
    node.setAttribute("data-key", key);
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
    return node;
  }

  function show(message) {
    if (state.seen[message.id]) { return; }
    state.seen[message.id] = true;
    if (message.id > state.lastId) { state.lastId = message.id; }
    if (message.client_id) {
      var mine = log.querySelector('[data-key="c:' + CSS.escape(message.client_id) + '"]');
      if (mine) {
        mine.classList.remove("pending");
        mine.setAttribute("data-id", String(message.id));
        if (mine.classList.contains("upload")) {
          // The placeholder showed the file name while uploading; now show the stored file.
          mine.classList.remove("upload");
          mine.textContent = message.text;
          (message.attachments || []).forEach(function (a) { mine.appendChild(attachmentView(a)); });
        }
        dropPending(message.client_id);
        return;
      }
    }
    // A newer word from the bot or a person closes the menus above it: after a hand-off the old
    // menu would still look pressable, and pressing it would say something no one answers.
    if (message.author_kind !== "customer") { closeChoices(); }
    if (message.author_kind === "agent" && status.textContent === t.typing) {  // the typing is done
      clearTimeout(state.typingTimer);
      status.textContent = "";
    }
    var node = bubble(message.text, message.author_kind, "m:" + message.id);
    node.setAttribute("data-id", String(message.id));
    (message.attachments || []).forEach(function (a) { node.appendChild(attachmentView(a)); });
    if (message.options && message.options.length) { showChoices(message.options); }
  }

  // The bot's menu: one button per choice; pressing one sends its label as the customer's
  // message (readable in the agent's transcript). Only the newest menu can be pressed.
  function closeChoices() {
    log.querySelectorAll(".choices button").forEach(function (b) { b.disabled = true; });
  }

  function showChoices(options) {
    closeChoices();
    var row = el("div", "choices");
    options.forEach(function (o) {
      var button = el("button", "", o.label);   // textContent: labels are data, not markup
      button.type = "button";
      button.setAttribute("dir", "auto");
      button.setAttribute("data-digit", o.digit);
      button.addEventListener("click", function () {
        row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        say(o.label);
      });
      row.appendChild(button);
    });
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
  }

  // Files need the visitor token, so they are fetched and shown from a blob URL.
  function attachmentView(a) {
    var holder = el("div", "file");
    holder.setAttribute("data-attachment", String(a.id));
    fetch(base + "/widget/v1/attachments/" + a.id, { headers: { "X-Visitor-Token": state.token }, credentials: "omit" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.blob(); })
      .then(function (blob) {
        var url = URL.createObjectURL(blob);
        if (a.content_type.indexOf("image/") === 0) {
          var img = el("img");
          img.alt = a.filename;
          img.src = url;
          holder.appendChild(img);
        } else {
          var link = el("a", "", a.filename);
          link.href = url;
          link.download = a.filename;
          holder.appendChild(link);
        }
      }).catch(function () { holder.textContent = a.filename; });
    return holder;
  }

  function dropPending(clientId) {
    state.pending = state.pending.filter(function (p) { return p.client_id !== clientId; });
    persist();
  }

  // ---- network ----
  function api(method, path, body) {
    var headers = { "Content-Type": "application/json", "Accept-Language": lang };
    if (state.token) { headers["X-Visitor-Token"] = state.token; }
    return fetch(base + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
                                credentials: "omit" })
      .then(function (r) {
        if (!r.ok) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            var err = new Error("HTTP " + r.status);
            err.status = r.status;
            err.retryAfter = parseInt(r.headers.get("Retry-After") || "", 10) || 0;
            var detail = body && body.detail;
            // Only a refusal the server wrote in the page's language is shown as it is.
            var said = r.headers.get("Content-Language") === lang && detail && detail[0] && detail[0].msg;
            err.detail = said || null;
            throw err;
          });
        }
        return r.status === 204 ? null : r.json();
      });
  }

  function deliver(p) {
    return api("POST", "/widget/v1/messages", { text: p.text, client_id: p.client_id }).then(function (m) {
      if (status.textContent !== t.typing) { status.textContent = ""; }  // an earlier refusal is past
      show(m);
    }, function (err) {
      // The server refused this message for good (too long, empty…): say so instead of retrying
      // forever. Not a missing chat (401): that message waits for the chat to open.
      if (err.status === 401) { reopen(); }  // the token went stale: ask for a chat again
      var final = err.status >= 400 && err.status < 500 && [401, 408, 429].indexOf(err.status) < 0;
      if (final) {
        var node = log.querySelector('[data-key="c:' + CSS.escape(p.client_id) + '"]');
        var why = p.text.length > MAX_TEXT ? t.tooLong : t.failed;
        if (node) { node.classList.remove("pending"); node.classList.add("failed"); node.title = why; }
        status.textContent = why;
        dropPending(p.client_id);
        return;
      }
      throw err;
    });
  }

  function isPending(clientId) {
    return state.pending.some(function (p) { return p.client_id === clientId; });
  }

  // One send at a time, oldest first: two messages typed quickly must reach the agent in the
  // order they were written, and a resend must not race the original.
  var outbox = Promise.resolve();
  function flushPending() {
    // No chat yet, or a saved token not taken yet (the server is busy): kept for later, and not
    // sent to be refused every few seconds.
    if (!state.token || !state.opened) { return Promise.resolve(); }
    var run = outbox.then(function () {
      return state.pending.slice().reduce(function (chain, p) {
        return chain.then(function () { return isPending(p.client_id) ? deliver(p) : null; });
      }, Promise.resolve());
    });
    outbox = run.catch(function () {});  // a failed run leaves its messages pending for the next
    return run;
  }

  // A send that failed is retried on a timer as well as on reconnect: an open socket does not
  // prove that requests get through (and a flaky network may never close the socket).
  function scheduleFlush() {
    if (state.flushTimer || !state.pending.length) { return; }
    state.flushTimer = setTimeout(function () {
      state.flushTimer = null;
      flushPending().catch(scheduleFlush);
    }, 2000);
  }
  window.addEventListener("online", function () { flushPending().catch(scheduleFlush); });

  // Everything after the last message seen, a page at a time, until a page is not full.
  var PAGE = 200;
  function catchUp() {
    return api("GET", "/widget/v1/messages?after=" + state.lastId).then(function (messages) {
      messages.forEach(show);
      if (messages.length >= PAGE) { return catchUp(); }
    });
  }

  function connect() {
    // The token goes as a subprotocol, not in the address, which servers and proxies log.
    var socket = new WebSocket(base.replace(/^http/, "ws") + "/widget/v1/ws", ["helpline.visitor", state.token]);
    state.socket = socket;
    socket.onopen = function () {
      state.retry = 0;
      status.textContent = "";
      catchUp().then(flushPending).catch(scheduleFlush);
    };
    socket.onmessage = function (e) {
      var data = JSON.parse(e.data);
      if (data.type === "message") { show(data.message); }
      else if (data.type === "typing") {
        status.textContent = t.typing;
        clearTimeout(state.typingTimer);
        state.typingTimer = setTimeout(function () { status.textContent = ""; }, 4000);
      } else if (data.type === "resync") { catchUp().catch(function () {}); }
    };
    socket.onclose = function () {
      if (state.socket !== socket) { return; }
      status.textContent = t.offline;
      var wait = Math.min(15000, 500 * Math.pow(2, state.retry++));
      setTimeout(connect, wait);
    };
  }

  // A send refused for its token: the session is asked for again (once at a time); the server
  // resumes the chat, or opens a new one when the old is gone.
  function reopen() {
    if (!state.opened) { return; }
    state.opened = false;
    start();
  }

  function start() {
    api("POST", "/widget/v1/session", { account: account, token: state.token, language: TEXT[pageLang] ? pageLang : null }).then(function (s) {
      state.opened = true;
      if (s.token) { state.token = s.token; persist(); }
      host.setAttribute("data-visitor", s.visitor_id);
      // A visitor who has written nothing yet sees the bot's menu at once (it is not stored:
      // choosing from it, or writing, starts the conversation).
      if (s.greeting && !s.messages.length && !state.pending.length && !log.querySelector(".msg")) {
        bubble(s.greeting.text, "bot greeting", "greeting");
        if (s.greeting.options.length) { showChoices(s.greeting.options); }
      }
      state.pending.forEach(function (p) {  // kept from before (a reload): drawn once
        if (!log.querySelector('[data-key="c:' + CSS.escape(p.client_id) + '"]')) {
          bubble(p.text, "customer pending", "c:" + p.client_id);
        }
      });
      s.messages.forEach(show);
      var live = state.socket && state.socket.readyState <= 1;  // a reopen keeps its socket
      if (live) { flushPending().catch(scheduleFlush); } else { connect(); }
    }).catch(function (err) {
      if (err.status === 429) {
        // Too many new chats from this network: say so, and ask again only when it may work.
        status.textContent = t.busy;
        setTimeout(start, Math.min(Math.max(err.retryAfter, 30), 3600) * 1000);
        return;
      }
      status.textContent = t.offline;
      setTimeout(start, 3000);
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    say(text);
  });

  function say(text) {
    state.lastTypingSent = 0;  // the next keystroke starts a new "typing…" for the agent
    var p = { client_id: newClientId(), text: text };
    state.pending.push(p);
    persist();
    bubble(text, "customer pending", "c:" + p.client_id);
    flushPending().catch(scheduleFlush);  // kept in pending until the server has it
  }

  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });

  input.addEventListener("input", function () {
    var now = Date.now();
    if (state.opened && now - state.lastTypingSent > 3000) {
      state.lastTypingSent = now;
      api("POST", "/widget/v1/typing").catch(function () {});
    }
  });

  attach.addEventListener("click", function () {
    if (state.opened) { picker.click(); } else { status.textContent = t.busy; }  // no chat yet to send it in
  });
  picker.addEventListener("change", function () {
    var file = picker.files && picker.files[0];
    picker.value = "";
    if (!file) { return; }
    var clientId = newClientId();
    var node = bubble(file.name, "customer pending upload", "c:" + clientId);
    var body = new FormData();
    body.append("file", file);
    body.append("client_id", clientId);
    fetch(base + "/widget/v1/attachments", { method: "POST", body: body, credentials: "omit",
                                               headers: { "X-Visitor-Token": state.token, "Accept-Language": lang } })
      .then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) {
            var said = r.headers.get("Content-Language") === lang && data && data.detail && data.detail[0];
            throw new Error(said ? data.detail[0].msg : r.status === 413 ? t.fileTooBig : r.status === 415 ? t.fileType : t.failed);
          }
          if (status.textContent !== t.typing) { status.textContent = ""; }
          show(data);
        });
      })
      .catch(function (err) {
        node.classList.remove("pending");
        node.classList.add("failed");
        node.title = err.message || t.failed;
        status.textContent = err.message || t.failed;
      });
  });

  // The server's refusal in the page's language when it has one (it reads Accept-Language),
  // else a plain "not saved".
  function problem(err) {
    if (err && err.detail) { return err.detail; }
    return err && (err.status === 502 || err.status === 503) ? t.codeNotSent : t.notSaved;
  }

  profileForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var body = { name: fields.name.value || null, email: fields.email.value || null, phone: fields.phone.value || null };
    profileStatus.textContent = "";
    api("POST", "/widget/v1/profile", body).then(function (r) {
      if (r.verification_sent_to) {
        codeNote.textContent = t.codeSent + r.verification_sent_to;
        codeForm.hidden = false;
        codeBox.focus();
      } else {
        profileStatus.textContent = t.saved;
      }
    }).catch(function (err) { profileStatus.textContent = problem(err); });
  });

  codeForm.addEventListener("submit", function (e) {
    e.preventDefault();
    api("POST", "/widget/v1/verify", { code: codeBox.value }).then(function (history) {
      // The chat now belongs to the known customer: show their history from the server.
      log.textContent = "";
      state.seen = {};
      state.lastId = 0;
      history.forEach(show);
      codeForm.hidden = true;
      profileStatus.textContent = t.saved;
    }).catch(function (err) { profileStatus.textContent = problem(err); });
  });

  start();
})();
