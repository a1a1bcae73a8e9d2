// Keeps the SLA countdowns current while a page stays open (the server wrote them at load time).
// Every element with data-due (an ISO time) gets its text recomputed each 30 s, in the page's language.
(function () {
  var zh = document.documentElement.lang.indexOf("zh") === 0;
  function words(seconds) {
    var past = seconds < 0, total = Math.floor(Math.abs(seconds) / 60);
    var d = Math.floor(total / 1440), h = Math.floor((total % 1440) / 60), m = total % 60;
    if (zh) {
      var z = (d ? d + "天" : "") + (h ? h + "小时" : "") + (m || !(d || h) ? m + "分钟" : "");
      return (past ? "已超时 " : "剩余 ") + z;
    }
    var parts = [];
    if (d) parts.push(d + " d");
    if (h) parts.push(h + " h");
    if (m || !(d || h)) parts.push(m + " min");
    return parts.join(" ") + (past ? " overdue" : " left");
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-due")) - now) / 1000;
      el.textContent = words(left);
      el.className = left <= 0 ? "late" : left <= 3600 ? "soon" : "ok";
    });
  }
  setInterval(tick, 30000);
})();
