"""The rubric an assessment gets when nobody has written one: the four things candidates are told we look at.

The built-in assessment's README ("What we look at") announces these criteria to candidates; the
levels are anchored, each describing what the work looks like, so two reviewers who read the same
repository land on the same number.
"""

DEFAULT_CRITERIA = [
    {
        "key": "thought_process",
        "title": "Thought process",
        "question": "Did they find the real cause of each problem, and judge what their fix may break?",
        "levels": {
            "1": "Hides symptoms (a try/except, a special case, a changed test); no sign the cause was understood.",
            "2": "Fixes the reported case, but the cause is only partly understood; related cases stay broken.",
            "3": "Finds the cause and fixes it where it lives; says little about what else the fix touches.",
            "4": "Finds root causes, explains trade-offs and what else the fix affects, and tests for it.",
        },
    },
    {
        "key": "version_control",
        "title": "Version control",
        "question": "One branch per ticket, focused commits, clear messages in the agreed form?",
        "levels": {
            "1": "Everything in one branch or one commit; messages like 'fix' or 'wip'; unrelated files committed.",
            "2": "Branches per ticket, but commits mix concerns, or messages do not say what changed and why.",
            "3": "A branch per ticket, mostly focused commits and clear messages; a few slips.",
            "4": "One ticket per branch in small, focused commits whose messages explain why; the history reads well.",
        },
    },
    {
        "key": "code_quality",
        "title": "Code quality",
        "question": "Small, readable changes that fit the code around them, with tests?",
        "levels": {
            "1": "Large or tangled changes, new lint problems, no tests for what was fixed.",
            "2": "Works, but the change is bigger than needed or ignores the style of the code around it; tests thin.",
            "3": "Small, readable changes in the project's style, with a test for most fixes.",
            "4": "Minimal, idiomatic changes, each with a test that fails without it; nothing a reviewer would change.",
        },
    },
    {
        "key": "communication",
        "title": "Communication",
        "question": "Could a teammate review the pull requests without asking what they meant?",
        "levels": {
            "1": "No pull requests, or titles only; a reviewer must guess what changed and why.",
            "2": "Pull requests say what changed but not why, or leave out what was not done.",
            "3": "Pull requests explain the problem, the fix and how it was checked.",
            "4": "Concise pull requests: cause, fix, trade-offs, risks and what is left, linked to their tickets.",
        },
    },
]
