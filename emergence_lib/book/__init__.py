"""The book: executing chapters with papermill, building the site, student copies (:mod:`.executor`), and the
helpers a chapter calls so that it reads as prose, parameters and a few calls (:mod:`.chapter`).

Command line: ``python -m emergence_lib.book execute|build|student`` (see :func:`~.executor.main`).
"""

from . import browser, chapter, executor
from .chapter import Chapter
from .executor import (
    BOOK_SOURCES,
    DEVICES,
    KERNEL,
    PROFILES,
    PROJECT_ROOT_VARIABLE,
    SOLUTION_TAG,
    STATUS_PAGE,
    STATUS_RECORDS,
    BookError,
    ChapterRun,
    book_root,
    build,
    build_site,
    check_profile,
    execute,
    execute_chapter,
    failure_report,
    list_chapters,
    main,
    resolve_device,
    stage,
    staging_dir,
    status_records,
    student_notebooks,
    write_status_page,
)

__all__ = [
    "Chapter", "chapter",
    "BOOK_SOURCES", "DEVICES", "KERNEL", "PROFILES", "PROJECT_ROOT_VARIABLE", "SOLUTION_TAG", "STATUS_PAGE", "STATUS_RECORDS",
    "BookError", "ChapterRun", "book_root", "build", "build_site", "check_profile", "execute", "execute_chapter", "executor",
    "failure_report", "list_chapters", "main", "resolve_device", "stage", "staging_dir", "status_records", "student_notebooks",
    "write_status_page",
]
