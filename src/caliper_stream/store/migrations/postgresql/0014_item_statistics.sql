-- Per gradable item, Grade Center's column statistics of its kept cells (analyse/gradebook.py:
-- refresh computes them with the cells of each course it folds again), so that a site's grade
-- distribution reads one row per item instead of every cell (scores are nearly all distinct:
-- grouping 124,634 cells by score still left 90,631 rows). Like gb_cells it is derived: the
-- built generation set back below makes the next refresh fold every course and fill it.
CREATE TABLE gb_items (
    course_number TEXT COLLATE "C" NOT NULL,
    item_pk TEXT COLLATE "C" NOT NULL,
    stats TEXT NOT NULL,
    PRIMARY KEY (course_number, item_pk)
);
UPDATE gb_state SET built_generation = built_generation - 1 WHERE id = 1;
