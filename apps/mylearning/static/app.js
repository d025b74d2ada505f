// MyLearning: sign in by name (a signed cookie holds the session, so any instance can serve
// you), enrol in courses, see your enrolments. Served from /static/app.js.
"use strict";
async function api(method, path, body) {
  const r = await fetch(path, {
    method, headers: { "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json().catch(() => ({})) };
}
async function render() {
  const me = document.getElementById("me");
  const s = await api("GET", "/api/session");
  if (s.status !== 200) {
    me.innerHTML = '<h2>Sign in</h2><input id="name" placeholder="your name"> <button id="go">Sign in</button>';
    document.getElementById("go").onclick = async () => {
      await api("POST", "/api/session", { name: document.getElementById("name").value });
      render();
    };
    return;
  }
  const e = await api("GET", "/api/me/enrolments");
  const list = (e.body.enrolments || []).map((x) => "<li>" + x.title + "</li>").join("");
  me.innerHTML = "<h2>Signed in as " + s.body.user + "</h2><ul>" + list + "</ul>";
  document.querySelectorAll("li a").forEach((a) => {
    const id = a.getAttribute("href").split("/").pop();
    const b = document.createElement("button");
    b.textContent = "Enrol";
    b.onclick = async () => { await api("POST", "/api/courses/" + id + "/enrol"); render(); };
    a.parentElement.appendChild(b);
  });
}
render();
