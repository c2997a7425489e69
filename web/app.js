// The search page: sign-in (authorization code with PKCE), POST /search, GET /videos, the results grid.
// No build step, no dependencies. config.json is written at deploy time (stacks/components/web_site.py)
// or by the local system (local/page_server.py): {apiUrl, auth: {mode, domain?, clientId?}, videosPageSize?}.
"use strict";

const TOKEN = "clipsearch.token";
const TOKEN_EXPIRES = "clipsearch.token_expires";
const PKCE = "clipsearch.pkce";
const MAX_IMAGE_BYTES = 4 * 1024 * 1024; // base64 grows it by a third; the function takes 6 MB

const $ = (id) => document.getElementById(id);
let config = null;
let image = null; // {dataUrl, name} of the image query

function redirectUri() {
  return `${location.origin}/`;
}

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

function token() {
  const value = sessionStorage.getItem(TOKEN);
  const expires = Number(sessionStorage.getItem(TOKEN_EXPIRES) || 0);
  if (!value || (expires && Date.now() > expires)) return null;
  return value;
}

function keepToken(value, expiresInSeconds) {
  sessionStorage.setItem(TOKEN, value);
  const lifetime = Number(expiresInSeconds) || 3600;
  sessionStorage.setItem(TOKEN_EXPIRES, String(Date.now() + (lifetime - 30) * 1000));
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(TOKEN_EXPIRES);
}

function say(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
}

async function signIn() {
  const verifier = randomString();
  const state = randomString();
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.auth.clientId,
    redirect_uri: redirectUri(),
    scope: config.auth.scope,
    state,
    code_challenge: base64url(digest),
    code_challenge_method: "S256",
  });
  location.assign(`${config.auth.domain}/oauth2/authorize?${query}`);
}

function signOut() {
  forgetToken();
  if (config.auth.mode === "cognito") {
    const query = new URLSearchParams({ client_id: config.auth.clientId, logout_uri: redirectUri() });
    location.assign(`${config.auth.domain}/logout?${query}`);
  } else {
    showAccount();
  }
}

// Back from the sign-in page with ?code=...&state=...: exchange the code (and the PKCE verifier).
// Returns what went wrong, in plain words, or null when signed in.
async function finishSignIn(params) {
  const saved = JSON.parse(sessionStorage.getItem(PKCE) || "null");
  sessionStorage.removeItem(PKCE);
  history.replaceState(null, "", redirectUri());
  if (!saved || saved.state !== params.get("state")) {
    return "Sign-in did not complete (the answer does not belong to this page's request). Try again.";
  }
  let response;
  try {
    response = await fetch(`${config.auth.domain}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: config.auth.clientId,
        code: params.get("code"),
        redirect_uri: redirectUri(),
        code_verifier: saved.verifier,
      }),
    });
  } catch (error) {
    return "Sign-in failed: the sign-in service could not be reached. Try again.";
  }
  if (!response.ok) return `Sign-in failed (${response.status}). Try again.`;
  const tokens = await response.json();
  keepToken(tokens.access_token, tokens.expires_in);
  return null;
}

function showAccount() {
  const signedIn = Boolean(token());
  const cognito = config.auth.mode === "cognito";
  $("auth-status").textContent = signedIn ? "Signed in" : "Not signed in";
  $("sign-in").hidden = signedIn || !cognito;
  $("sign-out").hidden = !signedIn;
  $("token-form").hidden = signedIn || cognito;
  $("search-button").disabled = !signedIn;
  if (!signedIn) {
    say(cognito ? "Sign in to search." : "Paste a token to search.");
  }
  return signedIn;
}

async function callApi(method, path, body) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(new URL(path, config.apiUrl), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    return { status: 0, body: { error: `the search API could not be reached (${error.message})` } };
  }
  let parsed = {};
  try {
    parsed = await response.json();
  } catch {
    parsed = {};
  }
  return { status: response.status, body: parsed };
}

// What a failed call means for the person in front of the page.
function explain(status, body) {
  const detail = body.error || body.message || "";
  if (status === 401 || status === 403) {
    forgetToken();
    showAccount();
    return "You are not signed in, or your session ended. Sign in again.";
  }
  if (status === 400) return `The search was refused: ${detail}`;
  if (status === 429) return "Too many searches at once. Wait a moment and try again.";
  if (status === 503 && detail === "Service Unavailable") {
    return "The search took longer than the API waits (30 seconds), usually while the model starts. Try again in a moment.";
  }
  if (status === 504) return `The search timed out: ${detail}. Try again in a moment.`;
  if (status === 0) return `Could not search: ${detail}.`;
  return `The search failed (${status}): ${detail || "no details"}.`;
}

// Every page of GET /videos, following next_cursor (config.videosPageSize, when set, asks for
// pages of that size; else the API's own, up to 1,000 videos a page).
async function loadVideos() {
  const options = [new Option("All videos", "")];
  let cursor = null;
  do {
    const query = new URLSearchParams();
    if (config.videosPageSize) query.set("limit", String(config.videosPageSize));
    if (cursor) query.set("cursor", cursor);
    const search = query.toString();
    const { status, body } = await callApi("GET", search ? `videos?${search}` : "videos");
    if (status !== 200) {
      say(explain(status, body), "error");
      return;
    }
    for (const video of body.videos) {
      const parts = [video.video_id];
      if (video.frames != null) parts.push(`${video.frames} frames`);
      if (video.duration_s != null) parts.push(clock(video.duration_s));
      options.push(new Option(parts.join(" · "), video.video_id));
    }
    cursor = body.next_cursor;
  } while (cursor);
  $("video-filter").replaceChildren(...options);
}

function clock(seconds) {
  const whole = Math.floor(seconds);
  const minutes = Math.floor(whole / 60);
  return `${String(minutes).padStart(2, "0")}:${String(whole % 60).padStart(2, "0")}`;
}

function request() {
  const body = {};
  const text = $("query").value.trim();
  if (image) body.image = image.dataUrl;
  else if (text) body.query = text;
  else return null;
  body.top_k = Number($("top-k").value) || 12;
  body.dedupe = $("dedupe").checked;
  const minScore = $("min-score").value.trim();
  if (minScore !== "") body.min_score = Number(minScore);
  const video = $("video-filter").value;
  if (video) body.video_ids = [video];
  return body;
}

function notices(body) {
  const lines = [];
  const list = (ids) => ids.join(", ");
  if (body.missing_videos?.length) {
    lines.push(`Still being indexed, not searched yet: ${list(body.missing_videos)}.`);
  }
  if (body.incomplete_videos?.length) {
    lines.push(`Searched as far as indexed; more frames are on their way: ${list(body.incomplete_videos)}.`);
  }
  if (body.queued_videos?.length) lines.push(`Queued for indexing now: ${list(body.queued_videos)}.`);
  if (body.unknown_videos?.length) lines.push(`Not processed yet (or unknown): ${list(body.unknown_videos)}.`);
  for (const skipped of [...(body.skipped_videos || []), ...(body.degraded_videos || [])]) {
    lines.push(`${skipped.video_id}: ${skipped.reason}.`);
  }
  $("notices").replaceChildren(...lines.map((line) => Object.assign(document.createElement("li"), { textContent: line })));
}

function describe(hit) {
  const when = hit.timestamp_s == null ? "time unknown" : `at ${clock(hit.timestamp_s)}`;
  return `Frame ${hit.frame_id} of video ${hit.video_id}, ${when}, score ${hit.score.toFixed(3)}`;
}

function showResults(body) {
  const hits = [...body.results].sort((a, b) => b.score - a.score);
  const items = hits.map((hit) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "result";
    const picture = document.createElement("img");
    picture.src = hit.url;
    picture.alt = describe(hit);
    const meta = document.createElement("span");
    meta.className = "meta";
    const score = Object.assign(document.createElement("span"), { className: "score", textContent: hit.score.toFixed(3) });
    const video = Object.assign(document.createElement("span"), { className: "video", textContent: hit.video_id });
    const time = Object.assign(document.createElement("span"), {
      className: "time",
      textContent: hit.timestamp_s == null ? "--:--" : clock(hit.timestamp_s),
    });
    meta.append(score, video, time);
    button.append(picture, meta);
    button.addEventListener("click", () => openViewer(hit));
    item.append(button);
    return item;
  });
  $("results").replaceChildren(...items);
  notices(body);
  if (hits.length === 0) {
    const cut = $("min-score").value.trim() !== "" ? " Try a lower minimum score." : "";
    const indexing = body.missing_videos?.length ? " Some videos are still being indexed." : "";
    say(`No frames matched.${cut}${indexing}`);
  } else {
    // searched_frames is null with the S3 Vectors index (it does not say how many it compared)
    const frames = body.searched_frames == null ? "" : `${body.searched_frames} frames searched, `;
    say(`${hits.length} frames from ${body.searched_videos} videos (${frames}${Math.round(body.took_ms)} ms).`);
  }
}

function openViewer(hit) {
  $("viewer-image").src = hit.url;
  $("viewer-image").alt = describe(hit);
  $("viewer-caption").textContent = describe(hit);
  $("viewer").showModal();
}

async function search(event) {
  event.preventDefault();
  if (!token()) {
    showAccount();
    return;
  }
  const body = request();
  if (body === null) {
    say("Type what the frames should show, or choose an image.", "error");
    $("query").focus();
    return;
  }
  const button = $("search-button");
  button.disabled = true;
  say("Searching…");
  try {
    const { status, body: answer } = await callApi("POST", "search", body);
    if (status === 200) showResults(answer);
    else {
      $("results").replaceChildren();
      $("notices").replaceChildren();
      say(explain(status, answer), "error");
    }
  } finally {
    button.disabled = !token();
  }
}

function chooseImage(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    say(`${file.name} is not an image.`, "error");
    return;
  }
  if (file.size > MAX_IMAGE_BYTES) {
    say(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB; images up to 4 MB can be searched.`, "error");
    return;
  }
  const reader = new FileReader();
  reader.addEventListener("load", () => {
    image = { dataUrl: reader.result, name: file.name };
    $("image-preview").src = reader.result;
    $("image-name").textContent = file.name;
    $("image-chosen").hidden = false;
    say(`Searching by image: ${file.name}. Press Search.`);
  });
  reader.readAsDataURL(file);
}

function clearImage() {
  image = null;
  $("image").value = "";
  $("image-chosen").hidden = true;
  $("image-preview").removeAttribute("src");
  $("query").focus();
}

function wire() {
  $("sign-in").addEventListener("click", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("search-form").addEventListener("submit", search);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    keepToken($("token").value.trim(), 3600);
    $("token").value = "";
    if (showAccount()) loadVideos();
  });
  $("image").addEventListener("change", () => chooseImage($("image").files[0]));
  $("clear-image").addEventListener("click", clearImage);
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    chooseImage(event.dataTransfer.files[0]);
  });
  $("viewer-close").addEventListener("click", () => $("viewer").close());
  $("viewer").addEventListener("click", (event) => {
    if (event.target === $("viewer")) $("viewer").close();
  });
}

async function start() {
  wire();
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    config = await response.json();
  } catch (error) {
    say(`The page has no configuration (config.json): ${error.message}`, "error");
    return;
  }
  const params = new URLSearchParams(location.search);
  let problem = null;
  if (params.has("code")) problem = await finishSignIn(params);
  else if (params.has("error")) {
    // A fixed text: the address (error_description included) is anyone's to write in a link.
    history.replaceState(null, "", redirectUri());
    problem = "Sign-in was refused or cancelled. Try again.";
  }
  const signedIn = showAccount();
  if (problem) say(problem, "error"); // after showAccount, which would say "Sign in to search."
  if (signedIn) {
    if (!problem) say("Type what the frame should show, or drop an image.");
    await loadVideos();
  }
}

start();
