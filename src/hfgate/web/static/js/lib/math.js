// TeX math in answers — $$…$$ and \[…\] on their own, $…$ and \(…\) in a line — typeset by
// KaTeX 0.19.1 (MIT, vendored in static/vendor/katex), loaded the first time an answer has
// math, so a page without any never pays for it.
//
// The formulas are lifted out of the markdown before it is parsed (markdown would eat their
// underscores, asterisks and backslashes) and left as placeholders; once the HTML is sanitised,
// each placeholder becomes an element this file creates, and KaTeX builds the formula inside it
// with DOM calls (its styles are set through the CSSOM, which the page's CSP allows, unlike
// style attributes in markup). KaTeX's defaults refuse \href, \url and raw HTML (trust: false).

const OPEN = '\uE000'; // private-use characters: never in a model's text in practice
const CLOSE = '\uE001';
const PLACEHOLDER = /\uE000(\d+)\uE001/g;
const CODE = /(```[\s\S]*?(?:```|$)|~~~[\s\S]*?(?:~~~|$)|`[^`\n]+`)/;
// Display first, then inline. A lone $…$ must hug its content and not touch a digit after it,
// so "costs $5 and $10" stays text.
const MATH = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|(?<![\\$\w])\$(?![\s$])([^$\n]+?)(?<![\s\\])\$(?![\w$])/g;

let katex = null;
let loading = null;

/** Markdown with its formulas replaced by placeholders, and the formulas, in order. */
export function liftMath(text) {
  const formulas = [];
  if (!text || !/[$\\]/.test(text)) return { text, formulas };
  const pieces = text.split(CODE).map((piece, index) => {
    if (index % 2 === 1) return piece; // code: its dollars and backslashes are code
    return piece.replace(MATH, (source, display, bracket, paren, inline) => {
      const tex = display ?? bracket ?? paren ?? inline;
      formulas.push({ tex: tex.trim(), display: display !== undefined || bracket !== undefined, source });
      return `${OPEN}${formulas.length - 1}${CLOSE}`;
    });
  });
  return { text: pieces.join(''), formulas };
}

/** Put the formulas back into the sanitised fragment, typeset when KaTeX is there. */
export function placeMath(fragment, formulas) {
  if (!formulas.length) return;
  const walker = document.createTreeWalker(fragment, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.data.includes(OPEN)) continue;
    // Markdown made it code after all (an indented block): the formula's own text, as typed.
    if (node.parentElement?.closest('code, pre')) node.data = node.data.replace(PLACEHOLDER, (_, i) => formulas[Number(i)]?.source ?? '');
    else nodes.push(node);
  }
  for (const node of nodes) {
    const parts = node.data.split(PLACEHOLDER);
    node.replaceWith(...parts.map((part, index) => (index % 2 ? formulaNode(formulas[Number(part)]) : part)));
  }
  if (!katex) load();
}

function formulaNode(formula) {
  const span = document.createElement('span');
  if (!formula) return span;
  span.className = formula.display ? 'math math-display' : 'math';
  span.dataset.tex = formula.tex;
  typeset(span);
  return span;
}

function typeset(span) {
  const display = span.classList.contains('math-display');
  if (!katex) {
    span.textContent = display ? `$$${span.dataset.tex}$$` : `$${span.dataset.tex}$`; // until loaded
    return;
  }
  try {
    katex.render(span.dataset.tex, span, { displayMode: display, throwOnError: true, trust: false, strict: 'ignore' });
  } catch (error) {
    // KaTeX's own error display sets a style attribute, which the CSP refuses: the formula
    // is shown as typed instead, marked, with KaTeX's reason as its title.
    span.textContent = display ? `$$${span.dataset.tex}$$` : `$${span.dataset.tex}$`;
    span.classList.add('math-error');
    span.title = String(error?.message || error);
  }
  span.classList.add('typeset');
}

/** Load KaTeX once (its stylesheet and script, from this server); then typeset what waits. */
function load() {
  loading ||= new Promise((resolve, reject) => {
    const style = document.createElement('link');
    style.rel = 'stylesheet';
    style.href = '/static/vendor/katex/katex.min.css';
    document.head.append(style);
    const script = document.createElement('script');
    script.src = '/static/vendor/katex/katex.min.js';
    script.onload = () => resolve(window.katex);
    script.onerror = () => reject(new Error('KaTeX could not be loaded'));
    document.head.append(script);
  }).then((loaded) => {
    katex = loaded;
    for (const span of document.querySelectorAll('span.math:not(.typeset)')) typeset(span);
  }, () => {
    loading = null; // shown as TeX source; the next answer with math tries again
  });
  return loading;
}
