// njs for nginx < 1.23, which gives $http_accept only the first of several Accept lines. Docker sends
// one line per media type; the tag microcache keys with all of them, joined as one header would be.
function accept(r) {
  return r.rawHeadersIn
    .filter((h) => h[0].toLowerCase() === 'accept')
    .map((h) => h[1])
    .join(', ');
}

export default { accept };
