// A little progressive enhancement; every page works without it (filters have a button, forms post).
document.addEventListener("DOMContentLoaded", function () {
  // Filters apply as soon as a choice changes (the Apply button stays for keyboard and no-script users).
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });
  // A triage form asks for a next review date only when the decision is to exclude.
  document.querySelectorAll("form[data-triage]").forEach(function (form) {
    var review = form.querySelector("[data-review]");
    var input = review && review.querySelector("input");
    function sync() {
      var choice = form.querySelector("input[name=decision]:checked");
      var exclude = choice && choice.value === "exclude";
      if (review) { review.hidden = !exclude; }
      if (input) { input.required = !!exclude; }
    }
    form.querySelectorAll("input[name=decision]").forEach(function (radio) { radio.addEventListener("change", sync); });
    sync();
  });
  // Actions that cannot be undone ask once more.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
});
