'use strict';
const assert = require('node:assert/strict');
const { describe, it } = require('node:test');
const { Notes, ValidationError } = require('../app/notes');

function notebookOf(count) {
  const notes = new Notes();
  for (let n = 1; n <= count; n++) notes.create({ notebook: 'work', title: `note ${n}` });
  return notes;
}

describe('notes', () => {
  it('a new note gets the next id', () => {
    const notes = new Notes();
    assert.equal(notes.create({ notebook: 'work', title: 'first' }).id, 1);
    assert.equal(notes.create({ notebook: 'work', title: 'second' }).id, 2);
  });
});

describe('paging', () => {
  it('a page holds per_page notes and the next page starts after it', () => {
    const notes = notebookOf(5);
    const titles = (page) => notes.page('work', { page, perPage: 2 }).notes.map((note) => note.title);
    assert.deepEqual(titles(1), ['note 1', 'note 2']);
    assert.deepEqual(titles(2), ['note 3', 'note 4']);
  });
});

describe('titles', () => {
  it('a title of spaces is refused', () => {
    assert.throws(() => new Notes().create({ notebook: 'work', title: '   ' }), ValidationError);
  });
});
