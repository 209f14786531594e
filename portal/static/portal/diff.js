// Line comments on the report's diffs (scoring/_evidence_changes.html), on top of what works
// without JavaScript (the "+" of a line is a <details> whose open state shows the form row):
// - opening a line's "+" or a thread's Reply puts the cursor in the form;
// - Cancel (a reset button) and Escape close the form and give the focus back to the "+";
// - a comment is posted in the background and the line's row is replaced by the same row of the
//   report the server answers with, so the new comment appears in its thread without a reload.
//   An error the server reports (its flash message) is shown on the form, with the text kept.
//   Deleting a comment of a thread goes the same way.
(() => {
  "use strict";

  const status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  document.addEventListener("DOMContentLoaded", () => document.body.append(status));

  // The comments row of a line row, or of an element inside the comments row.
  const commentsRow = (element) => {
    const row = element.closest("tr");
    if (row && row.classList.contains("diff-comments")) return row;
    const next = row && row.nextElementSibling;
    return next && next.classList.contains("diff-comments") ? next : null;
  };
  const opener = (row) => row.previousElementSibling && row.previousElementSibling.querySelector("details.comment-open");

  function close(row, focus) {
    const plus = opener(row);
    const reply = row.querySelector("details.comment-reply");
    const wasReply = reply && reply.open;
    if (plus) plus.open = false;
    if (reply) reply.open = false;
    const error = row.querySelector(".comment-error");
    if (error) error.remove();
    if (focus) {
      const back = wasReply ? reply.querySelector("summary") : plus && plus.querySelector("summary");
      if (back) back.focus();
    }
  }

  document.addEventListener(
    "toggle",
    (event) => {
      const details = event.target;
      if (!(details instanceof HTMLDetailsElement) || !details.open) return;
      if (!details.matches("details.comment-open, details.comment-reply")) return;
      const row = commentsRow(details);
      const textarea = row && row.querySelector(".comment-form textarea");
      if (textarea) textarea.focus();
    },
    true,
  );

  document.addEventListener("reset", (event) => {
    if (!event.target.matches("form.comment-form")) return;
    const row = commentsRow(event.target);
    if (row) close(row, true);
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !event.target.matches("form.comment-form textarea")) return;
    const row = commentsRow(event.target);
    if (row) {
      event.preventDefault();
      close(row, true); // the text stays for when the form is opened again
    }
  });

  function showError(form, text) {
    let error = form.querySelector(".comment-error");
    if (!error) {
      error = document.createElement("p");
      error.className = "comment-error";
      error.setAttribute("role", "alert");
      form.prepend(error);
    }
    error.textContent = text;
  }

  async function post(form, row) {
    const buttons = form.querySelectorAll("button");
    buttons.forEach((button) => (button.disabled = true));
    form.setAttribute("aria-busy", "true");
    let response, page;
    try {
      response = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
      page = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch {
      showError(form, "The portal could not be reached; nothing was lost. Try again.");
      return;
    } finally {
      buttons.forEach((button) => (button.disabled = false));
      form.removeAttribute("aria-busy");
    }
    const error = page.querySelector(".message-error");
    if (error || !response.ok) {
      showError(form, error ? error.textContent.trim() : `The portal answered ${response.status}; nothing was saved. Try again.`);
      return;
    }
    const key = row.dataset.line;
    const fresh = [...page.querySelectorAll("tr.diff-comments")].find((candidate) => candidate.dataset.line === key);
    if (!fresh) {
      // The branch moved since this page was loaded: the report lists the comment elsewhere.
      window.location.assign(response.url);
      return;
    }
    const before = new Set([...row.querySelectorAll(".review-comment")].map((comment) => comment.id));
    const plus = opener(row);
    row.replaceWith(document.adoptNode(fresh));
    if (plus) plus.open = false;
    const success = page.querySelector(".message-success");
    status.textContent = success ? success.textContent.trim() : "";
    const added = [...fresh.querySelectorAll(".review-comment")].find((comment) => !before.has(comment.id));
    if (added) {
      added.tabIndex = -1;
      added.focus();
    } else if (plus) {
      plus.querySelector("summary").focus(); // a comment was deleted: back to its line
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const row = form.closest("tr.diff-comments");
    if (!row || !window.fetch || !window.DOMParser) return;
    event.preventDefault();
    post(form, row);
  });
})();
