// The check-in desk: after every answer (a scan, a tick on the roster, a walk-in) the scanner's
// input has the focus again, so that the next scan lands in it; a walk-in that went through
// clears its form and the search.
document.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail.target;
  if (!target || target.id !== "scan-result") return;
  const source = event.detail.elt;
  const refused = target.querySelector("[data-outcome='refused']");
  if (!refused && source && source.closest) {
    const guests = source.closest("#walkin-guests");
    if (guests) guests.reset();
    if (source.closest("#walkin-members")) {
      const search = document.getElementById("member-search");
      if (search) search.value = "";
      document.getElementById("walkin-members").innerHTML = "";
    }
  }
  const input = document.querySelector("input[data-scan-input]");
  if (input) input.focus();
});
