"""Pages of API lists: numbered pages for lists a person browses, a cursor for the event feed."""

from rest_framework.pagination import CursorPagination, PageNumberPagination


class Pages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class EventCursor(CursorPagination):
    """Events in the order they were written (by id): a poller keeps ``next`` and asks again later;
    an event written after its last page always comes after the cursor it holds."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
