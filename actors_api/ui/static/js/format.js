// Numbers and times as people read them. Every function takes what the API returns
// (possibly null) and returns a string; "—" stands for "no value".

import {h} from "./dom.js";

export const NONE = "—";

const pad = (n) => String(n).padStart(2, "0");

/** An ISO 8601 time as local "YYYY-MM-DD HH:MM:SS". */
export function time(iso) {
  if (!iso) return NONE;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Shorter, for tables: "HH:MM:SS" today, "YYYY-MM-DD HH:MM" on other days. */
export function shortTime(iso, now = new Date()) {
  const full = time(iso);
  if (!iso || full === String(iso)) return full;
  const d = new Date(iso);
  const today = d.toDateString() === now.toDateString();
  return today ? full.slice(11) : full.slice(0, 16);
}

/** A <time> element showing the local time, with the UTC original as its tooltip. */
export function timeNode(iso, {short = false} = {}) {
  if (!iso) return NONE;
  return h("time", {datetime: iso, title: iso}, short ? shortTime(iso) : time(iso));
}

/** "12 s ago", "3 min ago", for a recent ISO time. */
export function ago(iso, now = Date.now()) {
  if (!iso) return NONE;
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

/** A duration in seconds: "0.42 s", "12.3 s", "4 min 05 s", "2 h 03 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return NONE;
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${pad(whole % 60)} s`;
  return `${Math.floor(whole / 3600)} h ${pad(Math.floor((whole % 3600) / 60))} min`;
}

/** Seconds between two ISO times (the second defaults to now), or null. */
export function between(startIso, endIso) {
  if (!startIso) return null;
  const end = endIso ? new Date(endIso).getTime() : Date.now();
  return Math.max(0, (end - new Date(startIso).getTime()) / 1000);
}

/** Bytes in binary units: "0 B", "512 B", "1.5 KiB", "2.0 GiB". */
export function bytes(n) {
  if (n === null || n === undefined) return NONE;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(n);
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** CPU time from nanoseconds (what the API records) as seconds. */
export function cpu(nanoseconds) {
  if (nanoseconds === null || nanoseconds === undefined) return NONE;
  return duration(Number(nanoseconds) / 1e9);
}

export function count(n) {
  if (n === null || n === undefined) return NONE;
  return Number(n).toLocaleString("en-US");
}

export function percent(n) {
  if (n === null || n === undefined) return NONE;
  return `${Number(n).toFixed(0)} %`;
}

export function yesNo(value) {
  if (value === null || value === undefined) return NONE;
  return value ? "yes" : "no";
}
