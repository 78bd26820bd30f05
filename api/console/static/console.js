// The console's only script besides htmx and Alpine (CSP build: no inline script, no eval).
// Alpine components are registered here by name and used as x-data="name" in the templates.
document.addEventListener("alpine:init", () => {
  // a value shown masked until a deliberate click reveals it (the reveal itself is a logged request)
  window.Alpine.data("disclosure", () => ({
    open: false,
    toggle() { this.open = !this.open; },
  }));

  // Surveys: the editor's question blocks moved up or down and removed in the page; the order of
  // the blocks is the order of the questions (each block's fields are named after its own key).
  window.Alpine.data("surveyQuestions", () => ({
    up(event) { surveyMove(event, -1); },
    down(event) { surveyMove(event, 1); },
    remove(event) {
      const block = event.target.closest("li.question");
      if (!block) return;
      const near = block.nextElementSibling || block.previousElementSibling;
      block.remove();
      const focus = near ? near.querySelector("input[name$='-text']") : document.querySelector(".add-question button");
      if (focus) focus.focus();
    },
  }));

  // Surveys: paper questionnaires typed in one after another. A digit picks that option of the
  // question in focus (a checkbox toggles); after a single choice or a score the next question
  // takes the focus, 0 goes on to it from any. Enter saves (Ctrl+Enter in a text box); typing an
  // "other" ticks it.
  window.Alpine.data("paperEntry", () => ({
    key(event) {
      const target = event.target;
      const form = target.closest && target.closest("form");
      if (!form) return;
      if (event.key === "Enter") {
        if (target.matches("textarea") && !(event.ctrlKey || event.metaKey)) return;
        if (target.matches("button, input[type=search], summary, a")) return;
        event.preventDefault();
        form.requestSubmit();
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey || !/^[0-9]$/.test(event.key)) return;
      if (!target.matches("input[type=radio], input[type=checkbox]")) return;
      const question = target.closest("fieldset[data-question]");
      if (!question) return;
      if (event.key === "0") {  // on to the next question (after a multiple choice, or skipping one)
        event.preventDefault();
        paperNext(form, question);
        return;
      }
      const choice = question.querySelectorAll("input[type=radio], input[type=checkbox]")[Number(event.key) - 1];
      if (!choice) return;
      event.preventDefault();
      choice.checked = choice.type === "radio" ? true : !choice.checked;
      choice.focus();
      if (choice.matches("[data-other-choice]") && choice.checked) {
        const other = question.querySelector("[data-other-text]");
        if (other) other.focus();
      } else if (choice.type === "radio") {
        paperNext(form, question);
      }
    },
    typed(event) {
      const text = event.target;
      if (!text.matches || !text.matches("[data-other-text]")) return;
      const box = text.closest("fieldset[data-question]").querySelector("[data-other-choice]");
      if (box && text.value.trim() !== "") box.checked = true;
    },
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

// Surveys: a question's block one place up (-1) or down (1), the button keeping the focus.
function surveyMove(event, step) {
  const button = event.target.closest("button");
  const block = event.target.closest("li.question");
  if (!block) return;
  const other = step < 0 ? block.previousElementSibling : block.nextElementSibling;
  if (!other) return;
  block.parentNode.insertBefore(block, step < 0 ? other : other.nextElementSibling);
  if (button) button.focus();
}

// Surveys: the focus to the question after `question` (its chosen option, or its first field),
// or to the save button after the last one.
function paperNext(form, question) {
  const all = Array.from(form.querySelectorAll("fieldset[data-question]"));
  const next = all[all.indexOf(question) + 1];
  const field = next
    ? next.querySelector("input:checked, input, textarea")
    : form.querySelector("button[type=submit]");
  if (field) field.focus();
}

// -- Moderation (内容审核) ----------------------------------------------------------------------------
// A photo clicked is shown large in the page's dialog (x-ref="zoom"); a click anywhere or Esc
// closes it. Without the script the link opens the large photo itself.
document.addEventListener("alpine:init", () => {
  window.Alpine.data("photoZoom", () => ({
    src: "data:,",
    alt: "",
    open(event) {
      const link = event.target.closest("a.zoom");
      if (!link) return;
      const image = link.querySelector("img");
      this.src = link.href;
      this.alt = image ? image.alt : "";
      this.$refs.zoom.showModal();
    },
    close() {
      this.$refs.zoom.close();
      this.src = "data:,";
    },
  }));
});
