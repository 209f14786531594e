// Copy buttons (class "copy-button", data-copy = the id of the field to copy) appear only where
// the clipboard can be written; the field itself can always be selected by hand.
document.addEventListener("DOMContentLoaded", function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll(".copy-button").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var field = document.getElementById(button.dataset.copy);
      navigator.clipboard.writeText(field.value).then(function () { button.textContent = "Copied"; });
    });
  });
});
