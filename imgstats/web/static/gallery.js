// Health check on the home page: ask /health and show its answer next to the button.
// Without JavaScript the button simply opens /health.
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-health]")) {
    const answer = form.querySelector("[data-health-answer]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      answer.textContent = "…";
      try {
        const response = await fetch(form.action, { cache: "no-store" });
        const text = (await response.text()).trim();
        answer.textContent = response.ok ? text : `${response.status}: ${text}`;
        answer.dataset.ok = response.ok;
      } catch (error) {
        answer.textContent = `No answer: ${error.message}`;
        answer.dataset.ok = false;
      }
    });
  }
});

// The exact value of a result: copy it to the clipboard.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-copy]")) {
    const status = button.parentElement.querySelector(".copied");
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
        status.textContent = "Copied.";
      } catch (error) {
        status.textContent = "Select the number to copy it.";
      }
    });
  }
});

// The image viewer: zoom (wheel, buttons, + and - keys) and pan (Shift + drag, the "Pans"
// mode, arrow keys) by a CSS transform of the stage that holds the image and the window
// outline. The window drag works at any zoom: it maps the pointer through the image's
// on-screen rectangle, which includes the transform. The view is kept per image for the
// session, so a window drawn on a zoomed view comes back zoomed.
const MAX_ZOOM = 32;
const viewers = new Map();

function setUpViewer(viewer) {
  const stage = viewer.querySelector("[data-stage]");
  const img = viewer.querySelector("img");
  const tools = viewer.parentElement.querySelector("[data-tools]");
  const level = tools && tools.querySelector("[data-zoom-level]");
  const picker = viewer.querySelector("[data-picker]");
  const imageWidth = Number(picker.dataset.width);
  const key = `imgstats-view:${viewer.dataset.image}`;
  const view = { scale: 1, x: 0, y: 0, mode: "window" };

  const clamp = () => {
    const w = viewer.clientWidth;
    const h = viewer.clientHeight;
    view.scale = Math.min(Math.max(view.scale, 1), MAX_ZOOM);
    view.x = Math.min(Math.max(view.x, w - w * view.scale), 0);
    view.y = Math.min(Math.max(view.y, h - h * view.scale), 0);
  };
  const apply = () => {
    clamp();
    stage.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
    // screen pixels per image pixel: from 2 on, show the pixels as squares
    const perPixel = (img.getBoundingClientRect().width || 1) / imageWidth;
    viewer.classList.toggle("pixelated", perPixel >= 2);
    viewer.classList.toggle("zoomed", view.scale > 1);
    if (level) level.textContent = `${Math.round(view.scale * 100)}%`;
    try {
      sessionStorage.setItem(key, JSON.stringify(view));
    } catch (error) {
      // no storage (private mode): the view is simply not kept
    }
  };
  // zoom by `factor` keeping the point (px, py) of the viewer, in its own pixels, in place
  const zoom = (factor, px = viewer.clientWidth / 2, py = viewer.clientHeight / 2) => {
    const before = view.scale;
    const after = Math.min(Math.max(before * factor, 1), MAX_ZOOM);
    view.x = px - ((px - view.x) * after) / before;
    view.y = py - ((py - view.y) * after) / before;
    view.scale = after;
    apply();
  };
  const setMode = (mode) => {
    view.mode = mode;
    viewer.dataset.mode = mode;
    for (const button of tools ? tools.querySelectorAll("[data-mode]") : []) {
      button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    }
    apply();
  };

  try {
    Object.assign(view, JSON.parse(sessionStorage.getItem(key) || "{}"));
  } catch (error) {
    // a stored view that does not parse is ignored
  }
  setMode(view.mode === "pan" ? "pan" : "window");

  viewer.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const rect = viewer.getBoundingClientRect();
      zoom(Math.exp(-event.deltaY / 300), event.clientX - rect.left, event.clientY - rect.top);
    },
    { passive: false },
  );
  if (tools) {
    tools.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      if (button.dataset.zoom === "in") zoom(1.5);
      else if (button.dataset.zoom === "out") zoom(1 / 1.5);
      else if (button.dataset.zoom === "fit") {
        Object.assign(view, { scale: 1, x: 0, y: 0 });
        apply();
      } else if (button.dataset.mode) setMode(button.dataset.mode);
    });
  }
  viewer.addEventListener("keydown", (event) => {
    const step = 40;
    const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (event.key === "+" || event.key === "=") zoom(1.5);
    else if (event.key === "-" || event.key === "_") zoom(1 / 1.5);
    else if (event.key === "0") {
      Object.assign(view, { scale: 1, x: 0, y: 0 });
      apply();
    } else if (moves[event.key] && view.scale > 1) {
      view.x += moves[event.key][0];
      view.y += moves[event.key][1];
      apply();
    } else return;
    event.preventDefault();
  });

  // panning: a drag in the "Pans" mode, or with Shift held, or with the middle button
  let panFrom = null;
  viewer.addEventListener("pointerdown", (event) => {
    const pan = view.mode === "pan" || event.shiftKey || event.button === 1;
    if (!pan) return; // the window drag (below) takes it
    event.preventDefault();
    event.stopPropagation();
    panFrom = { x: event.clientX - view.x, y: event.clientY - view.y };
    viewer.setPointerCapture(event.pointerId);
    viewer.classList.add("panning");
  }, true);
  viewer.addEventListener("pointermove", (event) => {
    if (!panFrom) return;
    view.x = event.clientX - panFrom.x;
    view.y = event.clientY - panFrom.y;
    apply();
  });
  const endPan = () => {
    panFrom = null;
    viewer.classList.remove("panning");
  };
  viewer.addEventListener("pointerup", endPan);
  viewer.addEventListener("pointercancel", endPan);
  new ResizeObserver(() => apply()).observe(viewer);
  img.addEventListener("load", () => apply());
  viewers.set(viewer, view);
  apply();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const viewer of document.querySelectorAll("[data-viewer]")) setUpViewer(viewer);
});

// Window view: drag a rectangle on the image; its corners, mapped from the displayed size
// to image pixels, fill the window form (x0, y0, x1, y1), which is then submitted. Without
// JavaScript (or with the keyboard) the form's four number fields do the same.
document.addEventListener("DOMContentLoaded", () => {
  document.documentElement.classList.add("js");
  const picker = document.querySelector("[data-picker]");
  const form = document.querySelector("form[data-window-form]");
  if (!picker || !form) return;
  const img = picker.querySelector("img");
  const box = picker.querySelector("[data-selection]");
  const width = Number(picker.dataset.width);
  const height = Number(picker.dataset.height);
  let start = null;

  // the image's rectangle on the screen includes the viewer's zoom and pan
  const point = (event) => {
    const rect = img.getBoundingClientRect();
    const fx = Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1);
    const fy = Math.min(Math.max((event.clientY - rect.top) / rect.height, 0), 1);
    return { fx, fy, px: event.clientX, py: event.clientY };
  };
  const draw = (a, b) => {
    box.hidden = false;
    box.style.left = `${Math.min(a.fx, b.fx) * 100}%`;
    box.style.top = `${Math.min(a.fy, b.fy) * 100}%`;
    box.style.width = `${Math.abs(a.fx - b.fx) * 100}%`;
    box.style.height = `${Math.abs(a.fy - b.fy) * 100}%`;
  };

  picker.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    start = point(event);
    picker.setPointerCapture(event.pointerId);
    draw(start, start);
  });
  // the window the server drew, put back when a gesture ends without a new one
  const shown = { hidden: box.hidden, style: box.getAttribute("style") || "" };
  const restore = () => {
    box.hidden = shown.hidden;
    box.setAttribute("style", shown.style);
  };
  picker.addEventListener("pointercancel", () => {
    start = null; // the browser took the gesture (a vertical scroll on a touch screen)
    restore();
  });
  picker.addEventListener("pointermove", (event) => {
    if (start) draw(start, point(event));
  });
  picker.addEventListener("pointerup", (event) => {
    if (!start) return;
    const end = point(event);
    const a = start;
    start = null;
    const x0 = Math.floor(Math.min(a.fx, end.fx) * width);
    const y0 = Math.floor(Math.min(a.fy, end.fy) * height);
    const x1 = Math.max(Math.ceil(Math.max(a.fx, end.fx) * width), x0 + 1);
    const y1 = Math.max(Math.ceil(Math.max(a.fy, end.fy) * height), y0 + 1);
    if (Math.abs(a.px - end.px) < 4 && Math.abs(a.py - end.py) < 4) {
      restore(); // a click, not a drag (measured on the screen, whatever the zoom)
      return;
    }
    const values = { x0, y0, x1: Math.min(x1, width), y1: Math.min(y1, height) };
    for (const [name, value] of Object.entries(values)) {
      form.elements[name].value = value;
    }
    form.requestSubmit();
  });
});

// Zones: GeoJSON (pasted or a file) or a label raster of the store, sent to POST /zonal/<image>;
// the polygons are drawn over the image (in image pixels, inside the zoomed stage) and the
// statistics of each zone tabled, sortable by any column, with a CSV download.
document.addEventListener("DOMContentLoaded", () => {
  const section = document.querySelector("[data-zones]");
  if (!section) return;
  const form = section.querySelector("[data-zones-form]");
  const error = section.querySelector("[data-zones-error]");
  const status = section.querySelector("[data-zones-status]");
  const result = section.querySelector("[data-zones-result]");
  const table = section.querySelector("[data-zones-table]");
  const csvLink = section.querySelector("[data-zones-csv]");
  const clear = section.querySelector("[data-zones-clear]");
  const overlay = document.querySelector("[data-zones-overlay]");
  // the label raster, drawn half transparent over the image (made when first shown, and
  // removed when not, so that the image is the viewer's one picture otherwise)
  let labelsOverlay = null;
  const showLabels = (url) => {
    if (!labelsOverlay) {
      labelsOverlay = document.createElement("img");
      labelsOverlay.className = "labels-overlay";
      labelsOverlay.alt = "";
      overlay.before(labelsOverlay);
    }
    labelsOverlay.src = url;
  };
  const hideLabels = () => {
    if (labelsOverlay) labelsOverlay.remove();
    labelsOverlay = null;
  };
  const SVG = "http://www.w3.org/2000/svg";
  let csvUrl = null;
  let rows = [];
  let columns = [];
  let sort = { column: 0, descending: false };

  // the alert is hidden while empty, so that the page's other alerts are its only ones
  const say = (message) => {
    error.textContent = message;
    error.hidden = !message;
    status.textContent = "";
  };
  const ringsOf = (geometry) => {
    if (!geometry || typeof geometry !== "object") return [];
    if (geometry.type === "Polygon") return geometry.coordinates || [];
    if (geometry.type === "MultiPolygon") return (geometry.coordinates || []).flat();
    return [];
  };
  const pathOf = (geometry) =>
    ringsOf(geometry)
      .filter((ring) => Array.isArray(ring) && ring.length)
      .map((ring) => "M" + ring.map((p) => `${Number(p[0])},${Number(p[1])}`).join("L") + "Z")
      .join("");
  const draw = (features) => {
    overlay.replaceChildren();
    features.forEach((feature, index) => {
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", pathOf(feature.geometry));
      path.setAttribute("fill-rule", "evenodd");
      path.dataset.row = String(index);
      overlay.append(path);
    });
  };
  const text = (value) => {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number" && !Number.isInteger(value)) {
      const size = Math.abs(value);
      if (size >= 1e15 || (size > 0 && size < 1e-4)) return value.toExponential(4);
      return size >= 1 ? String(Number(value.toFixed(4))) : String(Number(value.toPrecision(4)));
    }
    return String(value);
  };
  const csvCell = (value) => {
    if (value === null || value === undefined) return "";
    let s = String(value);
    // a zone id of the GeoJSON such as =HYPERLINK(...) is text, not a formula, in a
    // spreadsheet (OWASP's CSV injection); numbers, negative ones too, stay numbers
    if (typeof value === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const compare = (a, b) => {
    // empty zones (null) last whatever the direction; numbers as numbers, else as text
    if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1;
    if (b === null || b === undefined) return -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  };
  const render = () => {
    const order = rows.map((row, index) => index);
    order.sort((i, j) => {
      const a = rows[i][sort.column];
      const b = rows[j][sort.column];
      if (a === null || a === undefined || b === null || b === undefined) return compare(a, b);
      return sort.descending ? compare(b, a) : compare(a, b);
    });
    const head = document.createElement("tr");
    columns.forEach((name, c) => {
      const th = document.createElement("th");
      th.scope = "col";
      if (c === sort.column) th.setAttribute("aria-sort", sort.descending ? "descending" : "ascending");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = name;
      button.setAttribute("aria-label", `Sort by ${name}`);
      button.addEventListener("click", () => {
        sort = { column: c, descending: sort.column === c ? !sort.descending : false };
        render();
        table.querySelector(`thead th:nth-child(${c + 1}) button`).focus();
      });
      th.append(button);
      head.append(th);
    });
    table.tHead.replaceChildren(head);
    const body = document.createDocumentFragment();
    for (const index of order) {
      const tr = document.createElement("tr");
      tr.dataset.row = String(index);
      rows[index].forEach((value, c) => {
        const cell = document.createElement(c === 0 ? "th" : "td");
        if (c === 0) cell.scope = "row";
        if (typeof value === "number") {
          const data = document.createElement("data");
          data.value = String(value);
          data.title = `exact: ${value}`;
          data.textContent = text(value);
          cell.append(data);
        } else cell.textContent = text(value);
        tr.append(cell);
      });
      const hot = (on) => {
        tr.classList.toggle("hot", on);
        const path = overlay.querySelector(`path[data-row="${index}"]`);
        if (path) path.classList.toggle("hot", on);
      };
      tr.addEventListener("mouseenter", () => hot(true));
      tr.addEventListener("mouseleave", () => hot(false));
      body.append(tr);
    }
    table.tBodies[0].replaceChildren(body);
  };
  const show = (newColumns, newRows, name) => {
    columns = newColumns;
    rows = newRows;
    sort = { column: 0, descending: false };
    render();
    const lines = [columns.map(csvCell).join(",")].concat(rows.map((r) => r.map(csvCell).join(",")));
    if (csvUrl) URL.revokeObjectURL(csvUrl);
    csvUrl = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
    csvLink.href = csvUrl;
    csvLink.download = name;
    result.hidden = false;
    clear.hidden = false;
    status.textContent = `${rows.length} zone${rows.length === 1 ? "" : "s"}.`;
  };

  clear.addEventListener("click", () => {
    overlay.replaceChildren();
    hideLabels();
    result.hidden = true;
    clear.hidden = true;
    status.textContent = "";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say("");
    const funcs = form.elements.funcs.value.split(/[\s,]+/).filter(Boolean);
    if (!funcs.length) return say("Name at least one statistic, such as median.");
    const labels = form.elements.labels.value;
    let zones;
    if (labels) zones = { labels };
    else {
      const file = form.elements.file.files[0];
      const source = file ? await file.text() : form.elements.geojson.value;
      if (!source.trim()) return say("Paste a GeoJSON FeatureCollection, choose a file or a label raster.");
      try {
        zones = JSON.parse(source);
      } catch (exc) {
        return say(`This is not JSON: ${exc.message}`);
      }
      if (zones && zones.type === "Feature") zones = { type: "FeatureCollection", features: [zones] };
      if (zones && (zones.type === "Polygon" || zones.type === "MultiPolygon")) {
        zones = { type: "FeatureCollection", features: [{ type: "Feature", geometry: zones, properties: {} }] };
      }
    }
    status.textContent = "Computing…";
    let answer;
    try {
      const response = await fetch(section.dataset.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ funcs, zones }),
      });
      answer = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
      if (!response.ok) return say(answer.error || `The service answered ${response.status}.`);
    } catch (exc) {
      return say(`No answer from the service: ${exc.message}`);
    }
    // the service's names of the functions, each once ("median median" or "count" typed
    // made two columns of one value); "count" is always answered, last
    const asked = answer.funcs || (answer.imgstats && answer.imgstats.funcs) || funcs;
    const names = [...new Set(asked.filter((n) => n !== "count")), "count"];
    const base = section.dataset.image.replace(/\.[^.]*$/, "");
    if (labels) {
      overlay.replaceChildren();
      showLabels(section.dataset.labelsUrl.replace("__LABELS__", encodeURIComponent(labels)));
      show(["zone"].concat(names), answer.rows.map((r) => [r.zone].concat(names.map((n) => r[n]))), `${base}-zones.csv`);
    } else {
      hideLabels();
      const features = answer.features || [];
      draw(features);
      const rowsOf = features.map((f, i) => {
        const id = f.id !== undefined && f.id !== null ? f.id : i;
        return [id].concat(names.map((n) => (f.properties || {})[n]));
      });
      show(["zone"].concat(names), rowsOf, `${base}-zones.csv`);
    }
  });
});
