// The console's only script besides htmx and Alpine (CSP build: no inline script, no eval).
// Alpine components are registered here by name and used as x-data="name" in the templates.
document.addEventListener("alpine:init", () => {
  // a value shown masked until a deliberate click reveals it (the reveal itself is a logged request)
  window.Alpine.data("disclosure", () => ({
    open: false,
    toggle() { this.open = !this.open; },
  }));
});

// A scanner types the code and Enter: after each answer, the desk input is cleared and focused
// again so that the next scan lands in it.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt.closest && event.detail.elt.closest("form[data-scan]");
  if (!form) return;
  const input = form.querySelector("input[data-scan-input]");
  if (input) { input.value = ""; input.focus(); }
});

// Pages that ask before a consequential change (cancel an activity…) mark the button with
// data-confirm; htmx's hx-confirm would need inline handlers in some setups, this does not.
document.addEventListener("htmx:confirm", (event) => {
  const question = event.detail.elt.getAttribute && event.detail.elt.getAttribute("data-confirm");
  if (!question) return;
  event.preventDefault();
  if (window.confirm(question)) event.detail.issueRequest(true);
});

// Clear the flash line when staff do something (a change), so an old error does not linger; the
// pages' own polls (GET every few seconds) leave it for them to read.
document.addEventListener("htmx:beforeRequest", (event) => {
  const verb = event.detail.requestConfig && event.detail.requestConfig.verb;
  if (verb === "get") return;
  const flash = document.getElementById("flash");
  if (flash) flash.innerHTML = "";
});

// Meetings: Enter in an account search looks accounts up; it does not submit the form around it.
document.addEventListener("keydown", (event) => {
  const input = event.target;
  if (event.key !== "Enter" || !input || !input.matches || !input.matches("input[data-account-search]")) return;
  event.preventDefault();
  input.dispatchEvent(new Event("search", { bubbles: true }));
});
