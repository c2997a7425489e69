// The search page: sign-in (authorization code with PKCE), POST /search (moments or frames), GET /videos,
// uploads (POST/GET /uploads, the file straight to S3), the results grid and the viewer.
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
let names = new Map(); // video_id -> the name a person knows it by (GET /videos)
let viewing = null; // the viewer's {frames, index, video}
// Scores this close together mean nothing stands out (a relative cut: the model decides the scale).
const FLAT_SCORES = 0.02;
const UPLOAD_POLL_MS = 2000;
const UPLOAD_WAIT_MS = 20 * 60 * 1000;
// What the extractor reads, by file extension, for browsers that give a file no type (.mkv, .ts).
const VIDEO_TYPES = { mp4: "video/mp4", m4v: "video/mp4", mov: "video/quicktime", webm: "video/webm",
  mkv: "video/x-matroska", ts: "video/mp2t" };

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
  $("upload").hidden = !signedIn;
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
  if (status === 413) return "The request is too large for the API (about 6 MB): choose a smaller image.";
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
  const found = new Map();
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
      found.set(video.video_id, video.name || video.video_id);
      const parts = [video.name || video.video_id];
      if (video.frames != null) parts.push(`${video.frames} frames`);
      if (video.duration_s != null) parts.push(clock(video.duration_s));
      options.push(new Option(parts.join(" · "), video.video_id));
    }
    cursor = body.next_cursor;
  } while (cursor);
  const select = $("video-filter");
  const chosen = select.value;
  select.replaceChildren(...options);
  select.value = chosen;
  names = found;
}

function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

function nameOf(videoId) {
  return names.get(videoId) || videoId;
}

function clock(seconds) {
  const whole = Math.floor(seconds);
  const minutes = Math.floor(whole / 60);
  return `${String(minutes).padStart(2, "0")}:${String(whole % 60).padStart(2, "0")}`;
}

// The request the form describes, or {problem} saying what to fix (never a silent default).
function request() {
  const body = { group: $("group").value };
  const text = $("query").value.trim();
  if (image) body.image = image.dataUrl;
  else if (text) body.query = text;
  else return { problem: "Type what the frames should show, or choose an image." };
  const count = $("top-k").value.trim();
  if (!/^\d+$/.test(count) || Number(count) < 1 || Number(count) > 100) {
    return { problem: "Results must be a whole number from 1 to 100." };
  }
  body.top_k = Number(count);
  if (body.group === "frames") body.dedupe = $("dedupe").checked;
  const minScore = $("min-score").value.trim();
  if (minScore !== "") {
    const value = Number(minScore);
    if (!Number.isFinite(value) || value < -1 || value > 1) {
      return { problem: "Minimum score must be a number from -1 to 1 (or empty)." };
    }
    body.min_score = value;
  }
  const video = $("video-filter").value;
  if (video) body.video_ids = [video];
  return { body, by: image ? (text ? "both" : "image") : "text" };
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
    lines.push(`${nameOf(skipped.video_id)}: ${skipped.reason}.`);
  }
  $("notices").replaceChildren(...lines.map((line) => Object.assign(document.createElement("li"), { textContent: line })));
}

function describe(hit, videoId = hit.video_id) {
  const when = hit.timestamp_s == null ? "time unknown" : `at ${clock(hit.timestamp_s)}`;
  return `Frame ${hit.frame_id} of ${nameOf(videoId)}, ${when}, score ${hit.score.toFixed(3)}`;
}

function span(moment) {
  if (moment.start_s == null) return "--:--";
  return moment.start_s === moment.end_s ? clock(moment.start_s) : `${clock(moment.start_s)}–${clock(moment.end_s)}`;
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

// What the answer says about its own quality: a note when nothing stands out.
function summary(scores, count, unit, body) {
  if (count === 0) {
    const cut = $("min-score").value.trim() !== "" ? " Try a lower minimum score." : "";
    const indexing = body.missing_videos?.length ? " Some videos are still being indexed." : "";
    return `No ${unit}s matched.${cut}${indexing}`;
  }
  // searched_frames is null with the S3 Vectors index (it does not say how many it compared)
  const frames = body.searched_frames == null ? "" : `${plural(body.searched_frames, "frame")} searched, `;
  const flat = count > 1 && Math.max(...scores) - Math.min(...scores) < FLAT_SCORES;
  const note = flat ? " Nothing stands out: these are the closest, but they may not show what you asked for." : "";
  return `${plural(count, unit)} from ${plural(body.searched_videos, "video")} (${frames}${Math.round(body.took_ms)} ms).${note}`;
}

function showResults(body, by) {
  $("results").classList.remove("stale");
  $("score-note").hidden = false;
  notices(body);
  const moments = body.group === "moments";
  $("results").classList.toggle("moments", moments);
  $("results").setAttribute("aria-label", moments ? "Matching moments, best first" : "Matching frames, best first");
  const items = moments ? body.moments.map(momentCard) : [...body.results].sort((a, b) => b.score - a.score).map(frameCard);
  $("results").replaceChildren(...items);
  const scores = (moments ? body.moments : body.results).map((found) => found.score);
  let text = summary(scores, scores.length, moments ? "moment" : "frame", body);
  if (by === "both") text = `Searched by image; the text was not used (remove the image to search by text). ${text}`;
  else if (by === "image") text = `Searched by image. ${text}`;
  say(text);
}

function frameCard(hit) {
  const item = document.createElement("li");
  const button = element("button", "result");
  button.type = "button";
  const picture = document.createElement("img");
  picture.src = hit.url;
  picture.alt = describe(hit);
  const meta = element("span", "meta");
  meta.append(
    element("span", "score", hit.score.toFixed(3)),
    element("span", "video", nameOf(hit.video_id)),
    element("span", "time", hit.timestamp_s == null ? "--:--" : clock(hit.timestamp_s)),
  );
  button.append(picture, meta);
  button.addEventListener("click", () => openViewer({ frames: [hit], index: 0, videoId: hit.video_id }));
  item.append(button);
  return item;
}

function momentCard(moment) {
  const item = document.createElement("li");
  const button = element("button", "result moment");
  button.type = "button";
  const name = moment.video_name || nameOf(moment.video_id);
  const picture = document.createElement("img");
  picture.src = moment.best.url;
  picture.alt = `${name}, ${span(moment)}: its best frame (score ${moment.score.toFixed(3)})`;
  const meta = element("span", "moment-meta");
  meta.append(
    element("span", "range", span(moment)),
    element("span", "score", moment.score.toFixed(3)),
    element("span", "video", name),
    element("span", "count", plural(moment.frame_count, "frame")),
  );
  const strip = element("span", "preview");
  for (const frame of moment.preview) {
    const thumb = document.createElement("img");
    thumb.src = frame.url;
    thumb.alt = "";
    strip.append(thumb);
  }
  button.append(picture, meta, strip);
  button.addEventListener("click", () => openViewer(momentView(moment)));
  item.append(button);
  return item;
}

// The viewer of a moment: its preview frames (the best one first in view), and its video file when
// there is one (played from the moment's start), else the frames as a slideshow.
function momentView(moment) {
  const frames = moment.preview.some((f) => f.frame_id === moment.best.frame_id)
    ? moment.preview
    : [...moment.preview, moment.best].sort((a, b) => (a.timestamp_s ?? 0) - (b.timestamp_s ?? 0));
  const index = frames.findIndex((frame) => frame.frame_id === moment.best.frame_id);
  return { frames, index: Math.max(0, index), videoId: moment.video_id, moment };
}

function openViewer(view) {
  viewing = view;
  const video = $("viewer-video");
  const playable = Boolean(view.moment?.video_url) && view.moment.start_s != null;
  video.hidden = !playable;
  $("viewer-image").hidden = playable;
  if (playable) {
    const { start_s: start, end_s: end } = view.moment;
    video.src = `${view.moment.video_url}#t=${start},${Math.max(end, start)}`; // a media fragment
    video.addEventListener("loadedmetadata", () => { video.currentTime = start; }, { once: true });
  } else {
    video.removeAttribute("src");
  }
  const strip = $("viewer-strip");
  strip.hidden = view.frames.length < 2;
  strip.replaceChildren(...view.frames.map((frame, index) => {
    const item = document.createElement("li");
    const button = element("button");
    button.type = "button";
    const thumb = document.createElement("img");
    thumb.src = frame.url;
    thumb.alt = describe(frame, view.videoId);
    button.append(thumb);
    button.addEventListener("click", () => show(index));
    item.append(button);
    return item;
  }));
  $("viewer-previous").hidden = $("viewer-next").hidden = view.frames.length < 2;
  show(view.index, { seek: false });
  $("viewer").showModal();
  // Keyboard: focus on the frame shown (arrows move it), or on Close for a single frame.
  (strip.hidden ? $("viewer-close") : strip.children[viewing.index].firstChild).focus();
}

// Frame `index` of the viewer: shown (slideshow), or the video moved to its time.
function show(index, { seek = true } = {}) {
  if (!viewing) return;
  const count = viewing.frames.length;
  viewing.index = (index + count) % count;
  const frame = viewing.frames[viewing.index];
  const video = $("viewer-video");
  if (!video.hidden) {
    if (seek && frame.timestamp_s != null) video.currentTime = frame.timestamp_s;
  } else {
    $("viewer-image").src = frame.url;
    $("viewer-image").alt = describe(frame, viewing.videoId);
  }
  const moment = viewing.moment;
  const where = moment ? `${moment.video_name || nameOf(viewing.videoId)}, ${span(moment)}` : "";
  $("viewer-caption").textContent = moment
    ? `${where} (${plural(moment.frame_count, "matching frame")}, best ${moment.score.toFixed(3)}). Showing: ${describe(frame, viewing.videoId)}`
    : describe(frame, viewing.videoId);
  for (const [number, item] of [...$("viewer-strip").children].entries()) {
    item.firstChild.setAttribute("aria-current", String(number === viewing.index));
    if (number === viewing.index && $("viewer").open && document.activeElement?.closest("#viewer-strip")) {
      item.firstChild.focus(); // the focus follows the frame shown
    }
  }
}

function closeViewer() {
  const video = $("viewer-video");
  video.pause();
  video.removeAttribute("src");
  viewing = null;
}

async function search(event) {
  event.preventDefault();
  if (!token()) {
    showAccount();
    return;
  }
  const asked = request();
  if (asked.problem) {
    staleResults();
    say(asked.problem, "error");
    (asked.problem.startsWith("Type") ? $("query") : asked.problem.startsWith("Results") ? $("top-k") : $("min-score")).focus();
    return;
  }
  const button = $("search-button");
  button.disabled = true;
  say("Searching…");
  try {
    const { status, body: answer } = await callApi("POST", "search", asked.body);
    if (status === 200) showResults(answer, asked.by);
    else {
      staleResults();
      say(explain(status, answer), "error");
    }
  } finally {
    button.disabled = !token();
  }
}

// Results of an earlier search stay visible but greyed, and out of reach of screen readers, under
// an error: never taken for the answer to what is typed now.
function staleResults() {
  $("results").classList.add("stale");
  $("results").setAttribute("aria-hidden", "true");
  $("notices").replaceChildren();
  $("score-note").hidden = true;
}

// --- uploads: a presigned POST for the file (POST /uploads), the file straight to S3 with a
// progress bar, then its status (GET /uploads) until its frames answer a search ---

function videoType(file) {
  if (file.type && file.type.startsWith("video/") && Object.values(VIDEO_TYPES).includes(file.type)) return file.type;
  return VIDEO_TYPES[file.name.split(".").pop().toLowerCase()] || null;
}

function uploadSay(text, kind = "info") {
  const line = $("upload-status");
  line.textContent = text;
  line.className = `upload-status ${kind}`;
}

function sendFile(form, file) {
  return new Promise((resolve) => {
    const body = new FormData();
    // the signed fields (the key, the policy, its signature, the content type), then the file:
    // S3 ignores fields after the file
    for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
    body.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", form.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) $("upload-progress").value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => resolve(request.status));
    request.addEventListener("error", () => resolve(0));
    request.send(body);
  });
}

async function upload() {
  const file = $("video-file").files[0];
  if (!file) {
    uploadSay("Choose a video file first.", "error");
    return;
  }
  const contentType = videoType(file);
  if (!contentType) {
    uploadSay(`${file.name} is not a video this system reads (MP4, MOV, WebM, MKV, MPEG-TS).`, "error");
    return;
  }
  const button = $("upload-button");
  button.disabled = true;
  try {
    const { status, body } = await callApi("POST", "uploads", { name: file.name, size: file.size, content_type: contentType });
    if (status !== 200) {
      uploadSay(`The upload was refused: ${body.error || body.message || status}.`, "error");
      return;
    }
    $("upload-progress").hidden = false;
    $("upload-progress").value = 0;
    uploadSay(`Uploading ${file.name}…`);
    const sent = await sendFile(body, file);
    if (sent < 200 || sent >= 300) {
      uploadSay(`The upload to storage failed (${sent || "no answer"}). Try again.`, "error");
      return;
    }
    await follow(body.key, file.name);
  } finally {
    button.disabled = false;
    $("upload-progress").hidden = true;
  }
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function follow(key, name) {
  const deadline = Date.now() + UPLOAD_WAIT_MS;
  uploadSay(`${name} uploaded; waiting for its frames to be extracted…`);
  while (Date.now() < deadline) {
    const { status, body } = await callApi("GET", `uploads?key=${encodeURIComponent(key)}`);
    if (status === 200 && body.status === "failed") {
      uploadSay(`${name} could not be used: ${body.error}.`, "error");
      return;
    }
    if (status === 200 && body.status === "processed") {
      uploadSay(`${name}: ${plural(body.frames, "frame")} extracted; embedding them…`);
      if (await searchable(body.video_id, deadline)) {
        uploadSay(`${name} is searchable (${plural(body.frames, "frame")}).`, "done");
        await loadVideos();
      }
      return;
    }
    if (status === 200 && body.status === "processing") uploadSay(`${name}: extracting its frames…`);
    await pause(UPLOAD_POLL_MS);
  }
  uploadSay(`${name} is not searchable yet after ${UPLOAD_WAIT_MS / 60000} minutes; it may still come.`, "error");
}

// Searchable: a search of that video alone answers its frames (not "still being indexed").
async function searchable(videoId, deadline) {
  while (Date.now() < deadline) {
    const { status, body } = await callApi("POST", "search", { query: "a video", video_ids: [videoId], top_k: 1, group: "frames" });
    if (status === 200 && body.results.length && !body.missing_videos.includes(videoId)) return true;
    await pause(UPLOAD_POLL_MS);
  }
  uploadSay("The video was extracted but is not searchable yet; it may still come.", "error");
  return false;
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
  $("upload-button").addEventListener("click", upload);
  $("group").addEventListener("change", () => { $("dedupe").disabled = $("group").value !== "frames"; });
  $("dedupe").disabled = $("group").value !== "frames";
  $("viewer-close").addEventListener("click", () => $("viewer").close());
  $("viewer-previous").addEventListener("click", () => show(viewing.index - 1));
  $("viewer-next").addEventListener("click", () => show(viewing.index + 1));
  $("viewer").addEventListener("close", closeViewer);
  $("viewer").addEventListener("click", (event) => {
    if (event.target === $("viewer")) $("viewer").close();
  });
  $("viewer").addEventListener("keydown", (event) => {
    // the video's own arrows seek it; everywhere else they move through the moment's frames
    if (!viewing || viewing.frames.length < 2 || (event.target.tagName === "VIDEO" && !event.target.hidden)) return;
    if (event.key === "ArrowRight") show(viewing.index + 1);
    else if (event.key === "ArrowLeft") show(viewing.index - 1);
    else return;
    event.preventDefault();
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
