//! The course catalogue and its HTML page. The built-in catalogue seeds the database (and is
//! served as is without one): MyLearning is stateless, so every instance serves the same
//! catalogue and any of them can answer any request.

use std::sync::LazyLock;

use serde::Serialize;

/// One course of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Course {
    pub id: u32,
    pub title: String,
    pub level: String,
    pub lessons: u32,
}

/// The built-in catalogue.
pub static COURSES: LazyLock<Vec<Course>> = LazyLock::new(|| {
    SEED.iter()
        .map(|c| Course {
            id: c.id,
            title: c.title.to_owned(),
            level: c.level.to_owned(),
            lessons: c.lessons,
        })
        .collect()
});

/// A course as written in the source.
pub struct Seed {
    pub id: u32,
    pub title: &'static str,
    pub level: &'static str,
    pub lessons: u32,
}

pub const SEED: &[Seed] = &[
    Seed {
        id: 1,
        title: "Scalability from first principles",
        level: "beginner",
        lessons: 12,
    },
    Seed {
        id: 2,
        title: "Load balancers: L4, L7 and everything between",
        level: "intermediate",
        lessons: 9,
    },
    Seed {
        id: 3,
        title: "Auto scaling policies that do not flap",
        level: "intermediate",
        lessons: 8,
    },
    Seed {
        id: 4,
        title: "Multi-AZ databases and failover",
        level: "advanced",
        lessons: 10,
    },
    Seed {
        id: 5,
        title: "Caching: from Cache-Control to Redis",
        level: "intermediate",
        lessons: 7,
    },
    Seed {
        id: 6,
        title: "Chaos drills: breaking things on purpose",
        level: "advanced",
        lessons: 6,
    },
];

/// The course with `id`, if any, in the built-in catalogue.
pub fn find(id: u32) -> Option<&'static Course> {
    COURSES.iter().find(|c| c.id == id)
}

/// The catalogue page, naming the instance and availability zone that served it.
pub fn page(courses: &[Course], instance: &str, az: &str) -> String {
    let rows: String = courses
        .iter()
        .map(|c| {
            format!(
                "<li><a href=\"/api/courses/{id}\">{title}</a> <span class=\"level {level}\">{level}</span> \
                 <span class=\"lessons\">{lessons} lessons</span></li>\n",
                id = c.id,
                title = escape(&c.title),
                level = escape(&c.level),
                lessons = c.lessons,
            )
        })
        .collect();
    format!(
        "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<title>MyLearning: courses</title>
<link rel=\"stylesheet\" href=\"/static/app.css\">
<script defer src=\"/static/app.js\"></script>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; color: #1d2433; }}
h1 {{ color: #0b5cad; }}
ul {{ list-style: none; padding: 0; }}
li {{ padding: .6rem 0; border-bottom: 1px solid #e3e7ee; }}
a {{ color: inherit; font-weight: 600; text-decoration: none; }}
.level {{ font-size: .8rem; padding: .1rem .4rem; border-radius: .3rem; background: #eef3fb; }}
.advanced {{ background: #fdecea; }}
.lessons {{ float: right; color: #6b7385; }}
footer {{ margin-top: 2rem; font-size: .85rem; color: #6b7385; }}
</style>
</head>
<body>
<h1>MyLearning</h1>
<p>Courses on building web tiers that scale and survive failures.</p>
<ul>
{rows}</ul>
<section id=\"me\"></section>
<footer>Served by instance <code>{instance}</code> in availability zone <code>{az}</code>.</footer>
</body>
</html>
",
        instance = escape(instance),
        az = escape(az),
    )
}

/// Escapes text for HTML element content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_found() {
        for (i, c) in COURSES.iter().enumerate() {
            assert!(COURSES[i + 1..].iter().all(|d| d.id != c.id));
            assert_eq!(find(c.id), Some(c));
        }
        assert_eq!(find(999), None);
    }

    #[test]
    fn the_page_lists_every_course_and_escapes_the_instance() {
        let html = page(&COURSES, "i-<b>", "us-east-1a");
        for c in COURSES.iter() {
            assert!(html.contains(&c.title), "{}", c.title);
        }
        assert!(html.contains("i-&lt;b&gt;") && !html.contains("i-<b>"));
        assert!(html.contains("<code>us-east-1a</code>"));
    }
}
