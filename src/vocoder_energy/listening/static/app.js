// The rater's side of the listening test: join, then one clip at a time until the server says done.
// The server decides the order and keeps the progress; this page only remembers the rater's token.
"use strict";

const TOKEN_KEY = "listening-token";
const $ = (id) => document.getElementById(id);
let token = null;
let participant = null;
let current = null;
let audioUrl = null;

function show(section) {
  for (const id of ["intro", "rating", "done"]) $(id).hidden = id !== section;
}

function message(text) {
  $("message").textContent = text || "";
  $("message").hidden = !text;
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token) headers["Authorization"] = "Bearer " + token;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers, cache: "no-store" });
  if (!response.ok) {
    let text = response.statusText;
    try { text = (await response.json()).error || text; } catch (e) { /* not JSON */ }
    const err = new Error(text);
    err.status = response.status;
    throw err;
  }
  return response;
}

function invitationFromLink() {
  const match = /(?:^|[#&])invite=([A-Za-z0-9_-]+)/.exec(location.hash);
  return match ? match[1] : null;
}

async function join() {
  $("start").disabled = true;
  try {
    const invitation = invitationFromLink();
    const body = invitation ? { invitation } : {};
    const data = await (await api("/api/join", { method: "POST", body: JSON.stringify(body) })).json();
    token = data.token;
    localStorage.setItem(TOKEN_KEY, token);
    if (location.hash) history.replaceState(null, "", location.pathname);
    message("");
    await resume();
  } catch (err) {
    message(err.message);
  } finally {
    $("start").disabled = false;
  }
}

async function resume() {
  let state;
  try {
    state = await (await api("/api/state")).json();
  } catch (err) {
    if (err.status === 401) {  // the token is not known here (e.g. a new test): start afresh
      localStorage.removeItem(TOKEN_KEY);
      token = null;
      show("intro");
    }
    message(err.message);
    return;
  }
  participant = state.participant;
  render(state);
}

function render(state) {
  $("counter").textContent = `Clip ${Math.min(state.done + 1, state.total)} of ${state.total}`;
  $("progress").max = state.total;
  $("progress").value = state.done;
  $("participant").textContent = "Participant " + participant;
  if (state.current === null) {
    $("done-participant").textContent = "Participant " + participant;
    show("done");
    return;
  }
  show("rating");
  if (state.current !== current) load(state.current);
}

async function load(stimulus) {
  current = stimulus;
  for (const input of document.querySelectorAll("input[name=score]")) input.checked = false;
  $("scores").disabled = true;
  $("next").disabled = true;
  $("hint").hidden = false;
  $("play").disabled = true;
  $("play").textContent = "Loading…";
  try {
    // Fetched with the token and played from a blob: the clip's address never reaches the audio element.
    const blob = await (await api("/api/audio/" + encodeURIComponent(stimulus))).blob();
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    audioUrl = URL.createObjectURL(blob);
    $("audio").src = audioUrl;
    $("play").disabled = false;
    $("play").textContent = "▶ Play";
  } catch (err) {
    message(err.message);
  }
}

function play() {
  const audio = $("audio");
  audio.currentTime = 0;
  audio.play().catch((err) => message("The clip could not be played: " + err.message));
}

function unlock() {
  $("play").textContent = "▶ Play again";
  $("scores").disabled = false;
  $("hint").hidden = true;
  updateNext();
}

function updateNext() {
  $("next").disabled = $("scores").disabled || !document.querySelector("input[name=score]:checked");
}

async function submit() {
  const chosen = document.querySelector("input[name=score]:checked");
  if (!chosen || $("scores").disabled) return;
  $("next").disabled = true;
  const body = { participant, stimulus: current, score: Number(chosen.value) };
  try {
    // The next clip comes only once the server has committed this rating.
    const state = await (await api("/api/ratings", { method: "POST", body: JSON.stringify(body) })).json();
    message("");
    $("audio").pause();
    render(state);
  } catch (err) {
    message("Your rating was not saved: " + err.message + ". Please try again.");
    updateNext();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("start").addEventListener("click", join);
  $("play").addEventListener("click", play);
  $("audio").addEventListener("playing", () => { $("play").textContent = "Playing…"; });
  $("audio").addEventListener("ended", unlock);
  $("scores").addEventListener("change", updateNext);
  $("next").addEventListener("click", submit);
  token = localStorage.getItem(TOKEN_KEY);
  if (token && !invitationFromLink()) resume();
  else show("intro");
});
