// Copy buttons (class "copy-button", data-copy = the id of the field to copy: an input's value, or
// the text of any other element) appear only where the clipboard can be written; the field itself
// can always be selected by hand.
document.addEventListener("DOMContentLoaded", function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll(".copy-button").forEach(function (button) {
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      var field = document.getElementById(button.dataset.copy);
      var text = "value" in field ? field.value : field.textContent.trim();
      navigator.clipboard.writeText(text).then(
        function () { button.textContent = "Copied"; },
        function () { button.textContent = "Select it to copy"; }
      );
      setTimeout(function () { button.textContent = label; }, 4000);
    });
  });
});
