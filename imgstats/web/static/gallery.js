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
