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

  const point = (event) => {
    const rect = img.getBoundingClientRect();
    const fx = Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1);
    const fy = Math.min(Math.max((event.clientY - rect.top) / rect.height, 0), 1);
    return { fx, fy };
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
    if (Math.abs(a.fx - end.fx) < 0.01 && Math.abs(a.fy - end.fy) < 0.01) {
      restore(); // a click, not a drag
      return;
    }
    const values = { x0, y0, x1: Math.min(x1, width), y1: Math.min(y1, height) };
    for (const [name, value] of Object.entries(values)) {
      form.elements[name].value = value;
    }
    form.requestSubmit();
  });
});
