'use strict';
// The notes of every notebook, kept in memory: create one, list a notebook's a page at a time.

class ValidationError extends Error {}

class Notes {
  constructor() {
    this.notes = [];
    this.nextId = 1;
  }

  create({ notebook, title, body = '' } = {}) {
    if (typeof notebook !== 'string' || notebook.trim() === '') {
      throw new ValidationError('notebook must be a non-empty string');
    }
    if (!title) {
      throw new ValidationError('title is required');
    }
    const note = { id: this.nextId++, notebook, title, body: String(body) };
    this.notes.push(note);
    return note;
  }

  page(notebook, { page = 1, perPage = 10 } = {}) {
    const all = this.notes.filter((note) => note.notebook === notebook);
    const start = (page - 1) * perPage;
    const notes = all.filter((_, index) => index >= start && index <= start + perPage);
    return { notes, page, per_page: perPage, total: all.length };
  }
}

module.exports = { Notes, ValidationError };
