// Progressive enhancement only: the form posts and works the same without this script.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var more = document.getElementById("more");
  var toggle = document.getElementById("more-toggle");
  if (!more) return;
  var form = more.closest("form");
  var hasInput = form.querySelector(".more [aria-invalid=true], .more textarea:not(:placeholder-shown)");
  var checked = form.querySelector("input[name=score]:checked");
  function reveal() {
    more.hidden = false;
    if (toggle) toggle.hidden = true;
  }
  // Hide the optional part until a score is tapped, unless it already has content or an error.
  if (!hasInput && !checked) {
    more.hidden = true;
    if (toggle) toggle.hidden = false;
  } else if (toggle) {
    toggle.hidden = true;
  }
  form.addEventListener("change", function (e) {
    if (e.target && e.target.name === "score") reveal();
  });
  if (toggle) {
    toggle.addEventListener("click", function () {
      reveal();
      var c = document.getElementById("comment");
      if (c) c.focus();
    });
  }
  // A double tap on Send must not post the feedback twice.
  form.addEventListener("submit", function () {
    var b = form.querySelector("button[type=submit]");
    if (b) setTimeout(function () { b.disabled = true; }, 0);
  });
})();
